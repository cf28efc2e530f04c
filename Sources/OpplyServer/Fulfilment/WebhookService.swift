import Crypto
import Foundation

/// The webhook rules for staff: endpoints (validated URL, subscribed events, a secret shown once, rotation with a
/// 24-hour overlap), the delivery log and re-queueing dead deliveries.
struct WebhookService: Sendable {
    let endpoints: WebhookEndpointStore
    let queue: DeliveryQueue
    let guardrail: WebhookURLGuard
    let clock: WallClock
    /// How long the previous secret still signs deliveries after a rotation, so receivers can switch over.
    var rotationOverlap: TimeInterval = 86_400

    struct NewEndpoint: Decodable, Sendable {
        let url: String
        let events: [String]
        let description: String?
    }

    struct Changes: Decodable, Sendable {
        let url: String?
        let events: [String]?
        let description: String?
        let enabled: Bool?
    }

    func create(_ input: NewEndpoint, by staff: Customer) async throws -> WebhookEndpoint {
        let url = try await guardrail.check(input.url, field: "url")
        let events = try Self.events(input.events)
        let description = try Self.description(input.description)
        let now = clock.now
        let endpoint = WebhookEndpoint(
            id: UUID(), url: url, events: events, description: description, secret: .random(), enabled: true, createdAt: now, updatedAt: now
        )
        try await endpoints.insert(
            endpoint, recording: StaffAction(by: staff, .webhookCreated, record: endpoint.id, Self.summary(endpoint), at: now))
        return endpoint
    }

    func endpoint(_ id: UUID) async throws -> WebhookEndpoint {
        guard let endpoint = try await endpoints.endpoint(id) else { throw AppError.notFound }
        return endpoint
    }

    func endpoints(page: PageRequest) async throws -> (endpoints: [WebhookEndpoint], count: Int) {
        try await endpoints.endpoints(page: page)
    }

    func update(_ id: UUID, with changes: Changes, by staff: Customer) async throws -> WebhookEndpoint {
        var endpoint = try await endpoint(id)
        let before = endpoint
        if let url = changes.url { endpoint.url = try await guardrail.check(url, field: "url") }
        if let events = changes.events { endpoint.events = try Self.events(events) }
        if let description = changes.description { endpoint.description = try Self.description(description) }
        if let enabled = changes.enabled {
            endpoint.enabled = enabled
            endpoint.disabledReason = enabled ? nil : "disabled by staff"
        }
        endpoint.updatedAt = clock.now
        var changed: [String] = []
        if endpoint.url != before.url { changed.append("URL now to \(Self.host(endpoint.url))") }
        if endpoint.events != before.events { changed.append("events \(Self.eventList(endpoint.events))") }
        if endpoint.description != before.description { changed.append("description") }
        if endpoint.enabled != before.enabled { changed.append(endpoint.enabled ? "enabled" : "disabled") }
        let action = StaffAction(
            by: staff, .webhookChanged, record: id, changed.isEmpty ? "no change" : changed.joined(separator: "; "), at: endpoint.updatedAt)
        try await endpoints.update(endpoint, recording: action)
        return endpoint
    }

    func delete(_ id: UUID, by staff: Customer) async throws {
        let endpoint = try await endpoint(id)
        let action = StaffAction(by: staff, .webhookDeleted, record: id, Self.summary(endpoint), at: clock.now)
        guard try await endpoints.delete(id, recording: action) else { throw AppError.notFound }
    }

    /// A new secret; the old one keeps signing (as a second signature) for `rotationOverlap`.
    func rotateSecret(_ id: UUID, by staff: Customer) async throws -> WebhookEndpoint {
        var endpoint = try await endpoint(id)
        let now = clock.now
        endpoint.previousSecret = endpoint.secret
        endpoint.previousSecretUntil = now + rotationOverlap
        endpoint.secret = .random()
        endpoint.updatedAt = now
        let action = StaffAction(by: staff, .webhookRotated, record: id, "new secret; the old one signs too for 24 hours", at: now)
        try await endpoints.update(endpoint, recording: action)
        return endpoint
    }

    func deliveries(of endpoint: UUID, status: WebhookDelivery.Status?, page: PageRequest) async throws -> (
        deliveries: [WebhookDelivery], count: Int
    ) {
        _ = try await self.endpoint(endpoint)
        return try await queue.deliveries(of: endpoint, status: status, page: page)
    }

    /// Dead deliveries, counted no further than `cap` (the dashboard's webhook health).
    func deadDeliveries(cap: Int) async throws -> Int {
        try await queue.deadDeliveries(cap: cap)
    }

    /// When the oldest event still waiting for delivery was queued.
    func oldestPending() async throws -> Date? {
        try await queue.oldestPending()
    }

    /// Re-queues a dead delivery; one still pending or already delivered is `409`.
    func retry(_ delivery: UUID, of endpoint: UUID, by staff: Customer) async throws -> WebhookDelivery {
        guard let dead = try await queue.delivery(delivery, of: endpoint) else { throw AppError.notFound }
        let summary = "delivery \(delivery.uuidString.lowercased()) of \(dead.type) queued again"
        let action = StaffAction(by: staff, .deliveryRetried, record: endpoint, summary, at: clock.now)
        guard try await queue.retry(delivery, of: endpoint, at: clock.now, recording: action) else {
            throw AppError.conflict(code: "delivery_not_dead", "Only a dead delivery can be retried.")
        }
        guard let queued = try await queue.delivery(delivery, of: endpoint) else { throw AppError.notFound }
        return queued
    }

    /// The endpoint `WEBHOOK_URL` and `WEBHOOK_SECRET` configure, receiving every event; its id is derived from the URL,
    /// so every instance's delivery worker ensures the same one. The operator chose the URL: it is not checked against
    /// private hosts.
    func configuredEndpoint(url: String, secret: WebhookSecret) -> WebhookEndpoint {
        let now = clock.now
        return WebhookEndpoint(
            id: Self.configuredID(url: url), url: url, events: [], description: "WEBHOOK_URL", secret: secret, enabled: true,
            createdAt: now, updatedAt: now
        )
    }

    /// The id of the endpoint `WEBHOOK_URL` configures: derived from the URL, the same on every instance.
    static func configuredID(url: String) -> UUID {
        let digest = Array(SHA256.hash(data: Data("WEBHOOK_URL \(url)".utf8)))
        return UUID(
            uuid: (
                digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
                digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]
            ))
    }

    /// `["*"]` is every event (stored as the empty set); otherwise known event types, at least one.
    static func events(_ names: [String]) throws -> Set<EventType> {
        guard !names.isEmpty else { throw AppError.validation(field: "events", "List at least one event, or \"*\" for all.") }
        if names == ["*"] { return [] }
        var events: Set<EventType> = []
        var problems: [FieldProblem] = []
        for (index, name) in names.enumerated() {
            if let event = EventType(rawValue: name) {
                events.insert(event)
            } else {
                let known = EventType.allCases.map(\.rawValue).joined(separator: ", ")
                problems.append(FieldProblem("events[\(index)]", "Unknown event; expected one of \(known), or \"*\" alone."))
            }
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        return events
    }

    /// An endpoint for the audit trail: its host and events. Never the whole URL, whose path or query may hold a token.
    static func summary(_ endpoint: WebhookEndpoint) -> String {
        "\(host(endpoint.url)), \(eventList(endpoint.events))"
    }

    static func host(_ url: String) -> String {
        URLComponents(string: url)?.host ?? "?"
    }

    static func eventList(_ events: Set<EventType>) -> String {
        events.isEmpty ? "every event" : events.map(\.rawValue).sorted().joined(separator: ", ")
    }

    static func description(_ text: String?) throws -> String {
        let text = text ?? ""
        guard text.count <= 500 else { throw AppError.validation(field: "description", "At most 500 characters.") }
        return text
    }
}
