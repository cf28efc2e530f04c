import Foundation
import SQLKit

/// The delivery log staff read (an endpoint's deliveries, the dashboard's health figures) and the retry of a dead
/// delivery: the part of the queue that is not the worker's.
extension DeliveryQueue {
    /// An endpoint's delivery log, newest first.
    func deliveries(of endpoint: UUID, status: WebhookDelivery.Status?, page: PageRequest) async throws -> (
        deliveries: [WebhookDelivery], count: Int
    ) {
        try await database.read { sql in
            func matching(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
                query.where("endpoint_id", .equal, endpoint)
                if let status { query.where("status", .equal, status.rawValue) }
                return query
            }
            let count =
                try await matching(sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n").from("webhook_deliveries"))
                .first()?.decode(column: "n", as: Int.self) ?? 0
            let rows = try await matching(sql.select().columns(Self.deliveryColumns.map { SQLIdentifier($0) }).from("webhook_deliveries"))
                .orderBy("created_at", .descending).orderBy("id", .descending).limit(page.limit).offset(page.offset).all()
            return (try rows.map(Self.delivery(from:)), count)
        }
    }

    func delivery(_ id: UUID, of endpoint: UUID) async throws -> WebhookDelivery? {
        try await database.read { sql in
            try await sql.select().columns(Self.deliveryColumns.map { SQLIdentifier($0) }).from("webhook_deliveries")
                .where("id", .equal, id).where("endpoint_id", .equal, endpoint).first().map(Self.delivery(from:))
        }
    }

    /// Queues a dead delivery again with a fresh retry schedule; false when it is not dead.
    func retry(_ id: UUID, of endpoint: UUID, at now: Date, recording action: StaffAction) async throws -> Bool {
        try await database.transaction { sql in
            let retried =
                try await sql.update("webhook_deliveries").set("status", to: WebhookDelivery.Status.pending.rawValue)
                .set("attempts", to: 0).set("next_attempt_at", to: now)
                .where("id", .equal, id).where("endpoint_id", .equal, endpoint).where(
                    "status", .equal, WebhookDelivery.Status.dead.rawValue
                )
                .returning("id").all().count == 1
            if retried { try await action.record(on: sql) }
            return retried
        }
    }

    /// How many deliveries gave up (`dead`), counted on their partial index no further than `cap`.
    func deadDeliveries(cap: Int) async throws -> Int {
        try await database.read { sql in
            try await sql.raw(
                "SELECT count(*) AS n FROM (SELECT 1 AS one FROM webhook_deliveries WHERE status = 'dead' LIMIT \(bind: cap)) dead"
            ).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    /// When the oldest event still waiting for an enabled endpoint was queued, counting events not yet fanned out.
    func oldestPending() async throws -> Date? {
        try await database.read { sql in
            let delivery = try await sql.raw(
                """
                SELECT MIN(d.created_at) AS oldest FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.status = 'pending' AND e.enabled = \(bind: true)
                """
            ).first()?.decode(column: "oldest", as: Date?.self)
            let event = try await sql.select().column(SQLFunction("min", args: SQLColumn("created_at")), as: "oldest").from("outbox")
                .where("dispatched_at", .is, SQLLiteral.null).first()?.decode(column: "oldest", as: Date?.self)
            return [delivery, event].compactMap { $0 }.min()
        }
    }

    static func delivery(from row: any SQLRow) throws -> WebhookDelivery {
        guard let status = WebhookDelivery.Status(rawValue: try row.decode(column: "status", as: String.self)) else {
            throw FulfilmentDataBroken(detail: "unknown delivery status")
        }
        return WebhookDelivery(
            id: try row.decode(column: "id", as: UUID.self), endpoint: try row.decode(column: "endpoint_id", as: UUID.self),
            eventID: try row.decode(column: "event_id", as: UUID.self), type: try row.decode(column: "event_type", as: String.self),
            status: status, attempts: try row.decode(column: "attempts", as: Int.self),
            lastStatusCode: try row.decode(column: "last_status_code", as: Int?.self),
            lastError: try row.decode(column: "last_error", as: String?.self),
            nextAttemptAt: try row.decode(column: "next_attempt_at", as: Date?.self),
            deliveredAt: try row.decode(column: "delivered_at", as: Date?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self)
        )
    }
}
