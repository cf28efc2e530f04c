import Foundation
import Hummingbird

/// The staff `/api/admin/` routes: the order desk and webhook endpoints with their delivery logs.
struct FulfilmentController: Sendable {
    let desk: OrderDesk
    let webhooks: WebhookService
    let identity: IdentityService
    let links: LinkBase

    private struct Fulfilment: Decodable { let note: String? }
    private struct Cancellation: Decodable { let reason: String }

    func addRoutes(to router: Router<AppRequestContext>) {
        let admin = router.group("api/admin").add(middleware: Authenticator(identity: identity)).group(context: StaffContext.self)
        admin.get("orders", use: listOrders)
        admin.get("orders/:id", use: order)
        admin.post("orders/:id/fulfil", use: fulfil)
        admin.post("orders/:id/cancel", use: cancel)

        admin.post("webhooks", use: createEndpoint)
        admin.get("webhooks", use: listEndpoints)
        admin.get("webhooks/:id", use: endpoint)
        admin.patch("webhooks/:id", use: updateEndpoint)
        admin.delete("webhooks/:id", use: deleteEndpoint)
        admin.post("webhooks/:id/rotate-secret", use: rotateSecret)
        admin.get("webhooks/:id/deliveries", use: listDeliveries)
        admin.post("webhooks/:id/deliveries/:delivery/retry", use: retryDelivery)
    }

    @Sendable func listOrders(_ request: Request, context: StaffContext) async throws -> Response {
        let page = try PageRequest(from: request)
        let (list, count) = try await desk.orders(try Self.filter(from: request), page: page)
        return try Response.json(Page(results: list, count: count, page: page, request: request, links: links))
    }

    @Sendable func fulfil(_ request: Request, context: StaffContext) async throws -> Response {
        let body = try await JSONCoding.body(of: request)
        let note = body.readableBytes == 0 ? nil : try JSONCoding.decode(Fulfilment.self, from: body).note
        if let note, note.count > 500 { throw AppError.validation(field: "note", "At most 500 characters.") }
        return try Response.json(try await desk.fulfil(try context.uuid("id"), note: note, by: context.staff))
    }

    @Sendable func cancel(_ request: Request, context: StaffContext) async throws -> Response {
        let reason = try await JSONCoding.decode(Cancellation.self, from: request).reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...500).contains(reason.count) else { throw AppError.validation(field: "reason", "Say why, in 1 to 500 characters.") }
        return try Response.json(try await desk.cancel(try context.uuid("id"), reason: reason, by: context.staff))
    }

    @Sendable func order(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(try await desk.order(try context.uuid("id")))
    }

    @Sendable func createEndpoint(_ request: Request, context: StaffContext) async throws -> Response {
        let input = try await JSONCoding.decode(WebhookService.NewEndpoint.self, from: request, limit: .webhook)
        return try Response.json(WebhookEndpointWithSecret(endpoint: try await webhooks.create(input, by: context.staff)), status: .created)
    }

    @Sendable func listEndpoints(_ request: Request, context: StaffContext) async throws -> Response {
        let page = try PageRequest(from: request)
        let (list, count) = try await webhooks.endpoints(page: page)
        return try Response.json(Page(results: list, count: count, page: page, request: request, links: links))
    }

    @Sendable func endpoint(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(try await webhooks.endpoint(try context.uuid("id")))
    }

    @Sendable func updateEndpoint(_ request: Request, context: StaffContext) async throws -> Response {
        let changes = try await JSONCoding.decode(WebhookService.Changes.self, from: request, limit: .webhook)
        return try Response.json(try await webhooks.update(try context.uuid("id"), with: changes, by: context.staff))
    }

    @Sendable func deleteEndpoint(_ request: Request, context: StaffContext) async throws -> Response {
        try await webhooks.delete(try context.uuid("id"), by: context.staff)
        return Response(status: .noContent)
    }

    @Sendable func rotateSecret(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(WebhookEndpointWithSecret(endpoint: try await webhooks.rotateSecret(try context.uuid("id"), by: context.staff)))
    }

    @Sendable func retryDelivery(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(try await webhooks.retry(try context.uuid("delivery"), of: try context.uuid("id"), by: context.staff))
    }

    @Sendable func listDeliveries(_ request: Request, context: StaffContext) async throws -> Response {
        let page = try PageRequest(from: request)
        var status: WebhookDelivery.Status?
        if let raw = request.uri.queryParameters["status"] {
            guard let parsed = WebhookDelivery.Status(rawValue: String(raw)) else {
                throw AppError.validation(field: "status", "Must be pending, delivered or dead.")
            }
            status = parsed
        }
        let (list, count) = try await webhooks.deliveries(of: try context.uuid("id"), status: status, page: page)
        return try Response.json(Page(results: list, count: count, page: page, request: request, links: links))
    }

    /// The order desk's filters: `status`, `customer`, `product` (ids), `created_after`, `created_before` (RFC 3339).
    static func filter(from request: Request) throws -> OrderFilter {
        let query = request.uri.queryParameters
        var filter = OrderFilter()
        var problems: [FieldProblem] = []
        if let raw = query["status"] {
            if let status = Order.Status(rawValue: String(raw)) {
                filter.status = status
            } else {
                problems.append(FieldProblem("status", "Must be confirmed, fulfilled or cancelled."))
            }
        }
        for (name, keyPath) in [("customer", \OrderFilter.customer), ("product", \OrderFilter.product)] {
            guard let raw = query[Substring(name)] else { continue }
            if let id = UUID(uuidString: String(raw)) {
                filter[keyPath: keyPath] = id
            } else {
                problems.append(FieldProblem(name, "Must be an id."))
            }
        }
        for (name, keyPath) in [("created_after", \OrderFilter.createdAfter), ("created_before", \OrderFilter.createdBefore)] {
            guard let raw = query[Substring(name)] else { continue }
            if let date = Self.date(String(raw)) {
                filter[keyPath: keyPath] = date
            } else {
                problems.append(FieldProblem(name, "Must be an RFC 3339 time, such as 2026-11-26T09:30:00Z."))
            }
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        return filter
    }

    /// RFC 3339 with or without fractional seconds; a `+` offset that arrived as a space (an unencoded `+`) is read back.
    /// Impossible times (`2026-02-30`, `T24:00:00`, a `+24:00` offset) are nil, not rolled over.
    static func date(_ text: String) -> Date? {
        var text = text
        if text.count > 19, text[text.index(text.startIndex, offsetBy: 19)] == " " {
            text.replaceSubrange(text.index(text.startIndex, offsetBy: 19)...text.index(text.startIndex, offsetBy: 19), with: "+")
        }
        guard let parts = text.wholeMatch(of: /(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))/),
            Display.day(String(parts.1)) != nil, let hour = Int(parts.2), hour < 24, let minute = Int(parts.3), minute < 60,
            let second = Int(parts.4), second < 60, (parts.7.flatMap { Int($0) } ?? 0) < 24, (parts.8.flatMap { Int($0) } ?? 0) < 60
        else { return nil }
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return plain.date(from: text) ?? fractional.date(from: text)
    }
}
