import Foundation
import SQLKit

/// The SQL of webhook endpoints (`webhook_endpoints`): what staff register, and what the delivery queue fans out to.
struct WebhookEndpointStore: Sendable {
    let database: any Database

    static let endpointColumns = [
        "id", "url", "events", "description", "secret", "previous_secret", "previous_secret_until", "enabled", "disabled_reason",
        "created_at", "updated_at",
    ]

    /// Staff changes below write their `action` to the audit trail in the same transaction.
    func insert(_ endpoint: WebhookEndpoint, recording action: StaffAction) async throws {
        try await database.transaction { sql in
            try await sql.insert(into: "webhook_endpoints").columns(Self.endpointColumns).values(Self.values(of: endpoint)).run()
            try await action.record(on: sql)
        }
    }

    /// Creates the endpoint configured by `WEBHOOK_URL` once (a fixed id, so instances starting together agree), and
    /// keeps its URL and secret as configured.
    func ensure(_ endpoint: WebhookEndpoint) async throws {
        try await database.transaction { sql in
            try await sql.insert(into: "webhook_endpoints").columns(Self.endpointColumns).values(Self.values(of: endpoint))
                .ignoringConflicts(with: ["id"]).run()
            try await sql.update("webhook_endpoints").set("url", to: endpoint.url).set("secret", to: endpoint.secret.text)
                .where("id", .equal, endpoint.id).run()
        }
    }

    func endpoint(_ id: UUID) async throws -> WebhookEndpoint? {
        try await database.read { sql in
            try await sql.select().columns(Self.endpointColumns.map { SQLIdentifier($0) }).from("webhook_endpoints")
                .where("id", .equal, id).first().map(Self.endpoint(from:))
        }
    }

    func endpoints(page: PageRequest) async throws -> (endpoints: [WebhookEndpoint], count: Int) {
        try await database.read { sql in
            let count =
                try await sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n").from("webhook_endpoints")
                .first()?.decode(column: "n", as: Int.self) ?? 0
            let rows = try await sql.select().columns(Self.endpointColumns.map { SQLIdentifier($0) }).from("webhook_endpoints")
                .orderBy("created_at").orderBy("id").limit(page.limit).offset(page.offset).all()
            return (try rows.map(Self.endpoint(from:)), count)
        }
    }

    func enabledEndpoints(on sql: any SQLDatabase) async throws -> [WebhookEndpoint] {
        try await sql.select().columns(Self.endpointColumns.map { SQLIdentifier($0) }).from("webhook_endpoints")
            .where("enabled", .equal, true).orderBy("created_at").orderBy("id").all().map(Self.endpoint(from:))
    }

    func enabledEndpoints() async throws -> [WebhookEndpoint] {
        try await database.read { try await enabledEndpoints(on: $0) }
    }

    /// Writes every changeable field of `endpoint`.
    func update(_ endpoint: WebhookEndpoint, recording action: StaffAction) async throws {
        try await database.transaction { sql in
            try await action.record(on: sql)
            try await sql.update("webhook_endpoints")
                .set("url", to: endpoint.url).set("events", to: Self.storedEvents(endpoint.events))
                .set("description", to: endpoint.description).set("secret", to: endpoint.secret.text)
                .set("previous_secret", to: endpoint.previousSecret?.text).set("previous_secret_until", to: endpoint.previousSecretUntil)
                .set("enabled", to: endpoint.enabled).set("disabled_reason", to: endpoint.disabledReason)
                .set("updated_at", to: endpoint.updatedAt)
                .where("id", .equal, endpoint.id).run()
        }
    }

    /// Turns an endpoint off (its receiver answered `410 Gone`); its pending deliveries wait until it is enabled again.
    func disable(_ id: UUID, reason: String, at now: Date) async throws {
        try await database.transaction { sql in
            try await sql.update("webhook_endpoints").set("enabled", to: false).set("disabled_reason", to: reason).set(
                "updated_at", to: now
            )
            .where("id", .equal, id).run()
        }
    }

    /// Deletes an endpoint and its delivery log; false when there is none.
    func delete(_ id: UUID, recording action: StaffAction) async throws -> Bool {
        try await database.transaction { sql in
            try await sql.delete(from: "webhook_deliveries").where("endpoint_id", .equal, id).run()
            guard try await sql.delete(from: "webhook_endpoints").where("id", .equal, id).returning("id").all().count == 1 else {
                return false
            }
            try await action.record(on: sql)
            return true
        }
    }

    private static func storedEvents(_ events: Set<EventType>) -> String {
        events.isEmpty ? "*" : events.map(\.rawValue).sorted().joined(separator: ",")
    }

    private static func values(of endpoint: WebhookEndpoint) -> [any SQLExpression] {
        [
            SQLBind(endpoint.id), SQLBind(endpoint.url), SQLBind(storedEvents(endpoint.events)), SQLBind(endpoint.description),
            SQLBind(endpoint.secret.text), SQLBind(endpoint.previousSecret?.text), SQLBind(endpoint.previousSecretUntil),
            SQLBind(endpoint.enabled), SQLBind(endpoint.disabledReason), SQLBind(endpoint.createdAt), SQLBind(endpoint.updatedAt),
        ]
    }

    private static func endpoint(from row: any SQLRow) throws -> WebhookEndpoint {
        let stored = try row.decode(column: "events", as: String.self)
        guard let secret = WebhookSecret(text: try row.decode(column: "secret", as: String.self)) else {
            throw FulfilmentDataBroken(detail: "unreadable webhook secret")
        }
        return WebhookEndpoint(
            id: try row.decode(column: "id", as: UUID.self),
            url: try row.decode(column: "url", as: String.self),
            events: stored == "*" ? [] : Set(stored.split(separator: ",").compactMap { EventType(rawValue: String($0)) }),
            description: try row.decode(column: "description", as: String.self),
            secret: secret,
            previousSecret: try row.decode(column: "previous_secret", as: String?.self).flatMap(WebhookSecret.init(text:)),
            previousSecretUntil: try row.decode(column: "previous_secret_until", as: Date?.self),
            enabled: try row.decode(column: "enabled", as: Bool.self),
            disabledReason: try row.decode(column: "disabled_reason", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self),
            updatedAt: try row.decode(column: "updated_at", as: Date.self)
        )
    }
}

/// A fulfilment row the code cannot read (a bad secret or status); logged as a `500`, never shown.
struct FulfilmentDataBroken: Error, CustomStringConvertible {
    let detail: String
    var description: String { "fulfilment data broken: \(detail)" }
}
