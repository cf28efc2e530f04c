import Crypto
import Foundation

/// A staff-registered receiver of shop events: where to `POST` them, which kinds, and the secret they are signed with.
struct WebhookEndpoint: Encodable, Sendable {
    let id: UUID
    var url: String
    /// The event types it receives; empty means all (`*`).
    var events: Set<EventType>
    var description: String
    var secret: WebhookSecret
    /// The secret before the last rotation, still signed with until `previousSecretUntil`.
    var previousSecret: WebhookSecret?
    var previousSecretUntil: Date?
    var enabled: Bool
    var disabledReason: String?
    let createdAt: Date
    var updatedAt: Date

    func receives(_ type: EventType) -> Bool { events.isEmpty || events.contains(type) }

    /// The secrets a delivery at `now` is signed with: the current one, and the previous one during a rotation.
    func signingSecrets(at now: Date) -> [WebhookSecret] {
        guard let previousSecret, let until = previousSecretUntil, until > now else { return [secret] }
        return [secret, previousSecret]
    }

    /// `events` as stored and shown: `*`, or the type names.
    var eventNames: [String] { events.isEmpty ? ["*"] : events.map(\.rawValue).sorted() }

    private enum CodingKeys: String, CodingKey { case id, url, events, description, enabled, disabledReason, createdAt, updatedAt }

    /// Never the secret: it is shown once, when created or rotated.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.uuidString.lowercased(), forKey: .id)
        try container.encode(url, forKey: .url)
        try container.encode(eventNames, forKey: .events)
        try container.encode(description, forKey: .description)
        try container.encode(enabled, forKey: .enabled)
        try container.encode(disabledReason, forKey: .disabledReason)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}

/// An endpoint together with its secret: the one answer that shows it (create, rotate).
struct WebhookEndpointWithSecret: Encodable, Sendable {
    let endpoint: WebhookEndpoint

    private enum CodingKeys: String, CodingKey { case secret }
    func encode(to encoder: any Encoder) throws {
        try endpoint.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(endpoint.secret.text, forKey: .secret)
    }
}

/// A signing secret in the Standard Webhooks form, `whsec_` + base64 of the key bytes.
struct WebhookSecret: Sendable, Equatable {
    let key: Data

    var text: String { "whsec_" + key.base64EncodedString() }

    /// 32 random bytes.
    static func random() -> WebhookSecret {
        var generator = SystemRandomNumberGenerator()
        return WebhookSecret(key: Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }))
    }

    /// `whsec_<base64>` as issued (the key is the decoded bytes), or any other text of at least 32 bytes used as it is
    /// (for a `WEBHOOK_SECRET` an operator chose); nil otherwise.
    init?(text: String) {
        if text.hasPrefix("whsec_") {
            guard let key = Data(base64Encoded: String(text.dropFirst(6))), key.count >= 16 else { return nil }
            self.key = key
        } else {
            guard text.utf8.count >= 32 else { return nil }
            self.key = Data(text.utf8)
        }
    }

    init(key: Data) { self.key = key }
}

/// Standard Webhooks signing: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret, space-separated.
enum WebhookSignature {
    static func sign(id: String, timestamp: Int, body: Data, secrets: [WebhookSecret]) -> String {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        return secrets.map { secret in
            let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secret.key))
            return "v1," + Data(mac).base64EncodedString()
        }.joined(separator: " ")
    }
}

/// One event on its way to one endpoint: the delivery log's row.
struct WebhookDelivery: Encodable, Sendable {
    enum Status: String, Codable, Sendable, CaseIterable { case pending, delivered, dead }

    let id: UUID
    let endpoint: UUID
    let eventID: UUID
    let type: String
    var status: Status
    var attempts: Int
    var lastStatusCode: Int?
    var lastError: String?
    var nextAttemptAt: Date?
    var deliveredAt: Date?
    let createdAt: Date

    private enum CodingKeys: String, CodingKey {
        case id, endpoint
        case eventID = "event_id"
        case type, status, attempts, lastStatusCode, lastError, nextAttemptAt, deliveredAt, createdAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.uuidString.lowercased(), forKey: .id)
        try container.encode(endpoint.uuidString.lowercased(), forKey: .endpoint)
        try container.encode(eventID.uuidString.lowercased(), forKey: .eventID)
        try container.encode(type, forKey: .type)
        try container.encode(status, forKey: .status)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(lastStatusCode, forKey: .lastStatusCode)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(status == .pending ? nextAttemptAt : nil, forKey: .nextAttemptAt)
        try container.encode(deliveredAt, forKey: .deliveredAt)
        try container.encode(createdAt, forKey: .createdAt)
    }
}
