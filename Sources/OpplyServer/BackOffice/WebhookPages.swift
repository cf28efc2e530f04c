import Foundation
import Hummingbird

/// Webhook endpoints in the browser: create (the secret shown once, on the page the form answers with), edit, enable
/// and disable, rotate the secret, delete; each endpoint's delivery log with its status filter and "Retry" on a dead
/// delivery. Everything goes through `WebhookService`, as the API does.
struct WebhookPages: Sendable {
    let webhooks: WebhookService
    let identity: IdentityService
    let views: Views

    struct Row: Sendable {
        let id: String
        let url: String
        let description: String
        let events: String
        let enabled: Bool
        let disabledReason: String?
    }

    struct Event: Sendable {
        let name: String
        let checked: Bool
    }

    struct ListPage: Sendable {
        let layout: Layout
        let rows: [Row]
        let empty: Bool
        let events: [Event]
    }

    struct Delivery: Sendable {
        let id: String
        let type: String
        let status: String
        let attempts: Int
        let created: String
        let outcome: String
        let dead: Bool
    }

    struct DetailPage: Sendable {
        let layout: Layout
        let endpoint: Row
        let created: String
        let every: Bool
        let eventChoices: [Event]
        /// Set only on the page that answers the creation or a rotation: the one time the secret is shown.
        let secret: String?
        let status: [Choice]
        let deliveries: [Delivery]
        let hasDeliveries: Bool
        let count: String
        let back: String
    }

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("webhooks", use: list)
        admin.post("webhooks", use: create)
        admin.get("webhooks/:id", use: endpoint)
        admin.post("webhooks/:id", use: edit)
        admin.post("webhooks/:id/enabled", use: enable)
        admin.post("webhooks/:id/rotate", use: rotate)
        admin.post("webhooks/:id/delete", use: delete)
        admin.post("webhooks/:id/deliveries/:delivery/retry", use: retry)
    }

    @Sendable func list(_ request: Request, context: StaffPageContext) async throws -> Response {
        let (endpoints, _) = try await webhooks.endpoints(page: PageRequest(limit: 100))
        let page = ListPage(
            layout: Layout("Webhooks", section: "Webhooks", session: context.session, views: views),
            rows: endpoints.map(Self.row), empty: endpoints.isEmpty, events: Self.events(checked: []))
        return views.render("webhooks", page)
    }

    @Sendable func create(_ request: Request, context: StaffPageContext) async throws -> Response {
        let input = WebhookService.NewEndpoint(
            url: context.form.text("url") ?? "", events: context.form.all("events"), description: context.form.text("description"))
        let endpoint = try await webhooks.create(input, by: context.staff)
        return try await detail(endpoint, secret: endpoint.secret.text, request: request, context: context, status: .created)
    }

    @Sendable func endpoint(_ request: Request, context: StaffPageContext) async throws -> Response {
        try await detail(try await webhooks.endpoint(try OrderPages.id(context)), secret: nil, request: request, context: context)
    }

    @Sendable func edit(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        let changes = WebhookService.Changes(
            url: context.form.text("url") ?? "", events: context.form.all("events"), description: context.form["description"] ?? "",
            enabled: nil)
        _ = try await webhooks.update(id, with: changes, by: context.staff)
        return try await done("Saved the endpoint.", id: id, context: context)
    }

    @Sendable func enable(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        guard let enabled = ["yes": true, "no": false][context.form["enabled"] ?? ""] else {
            throw AppError.validation(field: "enabled", "Choose yes or no.")
        }
        _ = try await webhooks.update(id, with: .init(url: nil, events: nil, description: nil, enabled: enabled), by: context.staff)
        return try await done(
            enabled ? "Enabled: deliveries resume." : "Disabled: deliveries wait until it is enabled.", id: id, context: context)
    }

    @Sendable func rotate(_ request: Request, context: StaffPageContext) async throws -> Response {
        let endpoint = try await webhooks.rotateSecret(try OrderPages.id(context), by: context.staff)
        return try await detail(endpoint, secret: endpoint.secret.text, request: request, context: context)
    }

    @Sendable func delete(_ request: Request, context: StaffPageContext) async throws -> Response {
        try await webhooks.delete(try OrderPages.id(context), by: context.staff)
        try await identity.flash(Notice("Deleted the endpoint and its delivery log.").stored, for: context.session)
        return Views.redirect(to: "/admin/webhooks/")
    }

    @Sendable func retry(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        guard let raw = context.parameters.get("delivery"), let delivery = UUID(uuidString: raw) else { throw AppError.notFound }
        _ = try await webhooks.retry(delivery, of: id, by: context.staff)
        return try await done("Delivery queued again.", id: id, context: context)
    }

    private func done(_ text: String, id: UUID, context: StaffPageContext) async throws -> Response {
        try await identity.flash(Notice(text).stored, for: context.session)
        return Views.redirect(to: BackOfficeGate.localPath(context.form["back"]) ?? "/admin/webhooks/\(id.uuidString.lowercased())/")
    }

    /// An endpoint's page; `secret` is shown once, when the page answers the form that made it.
    private func detail(
        _ endpoint: WebhookEndpoint, secret: String?, request: Request, context: StaffPageContext, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let raw = request.uri.queryParameters["status"].map(String.init) ?? ""
        let filter = WebhookDelivery.Status(rawValue: raw)
        if !raw.isEmpty, filter == nil { throw AppError.validation(field: "status", "Choose pending, delivered or dead.") }
        let (deliveries, count) = try await webhooks.deliveries(of: endpoint.id, status: filter, page: PageRequest(limit: 50))
        let page = DetailPage(
            layout: Layout(Self.host(endpoint.url), section: "Webhooks", session: context.session, views: views),
            endpoint: Self.row(endpoint), created: Display.time(endpoint.createdAt), every: endpoint.events.isEmpty,
            eventChoices: Self.events(checked: endpoint.events), secret: secret,
            status: [nil, WebhookDelivery.Status.pending, .delivered, .dead].map {
                Choice(value: $0?.rawValue ?? "", label: $0?.rawValue.capitalized ?? "Any status", selected: filter == $0)
            },
            deliveries: deliveries.map(Self.delivery), hasDeliveries: !deliveries.isEmpty, count: Display.count(count),
            back: "/admin/webhooks/\(endpoint.id.uuidString.lowercased())/")
        return views.render("webhook", page, status: status)
    }

    static func row(_ endpoint: WebhookEndpoint) -> Row {
        Row(
            id: endpoint.id.uuidString.lowercased(), url: endpoint.url, description: endpoint.description,
            events: WebhookService.eventList(endpoint.events), enabled: endpoint.enabled, disabledReason: endpoint.disabledReason)
    }

    static func events(checked: Set<EventType>) -> [Event] {
        EventType.allCases.map { Event(name: $0.rawValue, checked: checked.contains($0)) }
    }

    static func delivery(_ delivery: WebhookDelivery) -> Delivery {
        var outcome = delivery.lastStatusCode.map { "HTTP \($0)" } ?? ""
        if let error = delivery.lastError { outcome += outcome.isEmpty ? error : ": \(error)" }
        if let delivered = delivery.deliveredAt {
            outcome = "delivered \(Display.time(delivered))" + (outcome.isEmpty ? "" : " (\(outcome))")
        }
        return Delivery(
            id: delivery.id.uuidString.lowercased(), type: delivery.type, status: delivery.status.rawValue, attempts: delivery.attempts,
            created: Display.time(delivery.createdAt), outcome: outcome.isEmpty ? "not tried yet" : outcome, dead: delivery.status == .dead)
    }

    static func host(_ url: String) -> String {
        "Webhook " + WebhookService.host(url)
    }
}
