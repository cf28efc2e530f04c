import Foundation
import SQLKit

/// The delivery queue: outbox events fanned out into one `webhook_deliveries` row per subscribed endpoint, claimed
/// with a lease by the delivery worker, their outcomes recorded, and the log staff read and retry from.
struct DeliveryQueue: Sendable {
    let database: any Database
    let endpoints: WebhookEndpointStore

    /// Turns undispatched outbox events, in outbox order, into one pending delivery per matching enabled endpoint, and
    /// marks them dispatched, all in one transaction; returns how many events it handled. On PostgreSQL one instance
    /// at a time does it (a transaction-scoped advisory lock; the others skip the round).
    func fanOut(at now: Date, batch: Int = 500) async throws -> Int {
        try await database.transaction { sql in try await fanOut(at: now, batch: batch, claiming: [:], leaseUntil: now, on: sql).fanned }
    }

    /// The fan-out, taking up to `room[endpoint]` of the new deliveries (the first in outbox order) as claimed at once
    /// (attempt 1, leased until `leaseUntil`, as `claim` would), so a delivery sent as soon as it exists is one
    /// row write less.
    private func fanOut(
        at now: Date, batch: Int, claiming room: [UUID: Int], leaseUntil: Date, on sql: any SQLDatabase
    ) async throws -> (fanned: Int, claimed: [UUID: [Claimed]]) {
        if database.engine == .postgres {
            let locked = try await sql.raw("SELECT pg_try_advisory_xact_lock(7002) AS locked").first()?.decode(
                column: "locked", as: Bool.self)
            guard locked == true else { return (0, [:]) }
        }
        let events = try await sql.select().columns("id", "topic", "payload", "created_at").from("outbox")
            .where("dispatched_at", .is, SQLLiteral.null).orderBy("seq").limit(batch).all()
            .map {
                (
                    id: try $0.decode(column: "id", as: UUID.self), topic: try $0.decode(column: "topic", as: String.self),
                    payload: try $0.decode(column: "payload", as: String.self),
                    createdAt: try $0.decode(column: "created_at", as: Date.self)
                )
            }
        guard !events.isEmpty else { return (0, [:]) }
        let endpoints = try await endpoints.enabledEndpoints(on: sql)
        var room = room
        var deliveries: [(row: [any SQLExpression], claimed: Claimed?, endpoint: UUID)] = []
        for event in events {
            guard let type = EventType(rawValue: event.topic) else { continue }
            for endpoint in endpoints where endpoint.receives(type) {
                let id = UUID.timeOrdered(at: now)
                var claimed: Claimed?
                var due = now
                if room[endpoint.id, default: 0] > 0 {
                    room[endpoint.id, default: 0] -= 1
                    claimed = Claimed(
                        id: id, eventID: event.id, type: type.rawValue, attempt: 1, payload: event.payload, eventCreatedAt: event.createdAt)
                    due = leaseUntil
                }
                let row: [any SQLExpression] = [
                    SQLBind(id), SQLBind(endpoint.id), SQLBind(event.id), SQLBind(type.rawValue),
                    SQLBind(WebhookDelivery.Status.pending.rawValue), SQLBind(claimed == nil ? 0 : 1), SQLBind(due), SQLBind(now),
                ]
                deliveries.append((row, claimed, endpoint.id))
            }
        }
        var claimed: [UUID: [Claimed]] = [:]
        for start in stride(from: 0, to: deliveries.count, by: 200) {
            let chunk = deliveries[start..<min(start + 200, deliveries.count)]
            let insert = sql.insert(into: "webhook_deliveries")
                .columns("id", "endpoint_id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "created_at")
            for delivery in chunk { insert.values(delivery.row) }
            // Only rows really inserted are claimed: a delivery that already existed is not sent twice.
            let inserted = Set(
                try await insert.ignoringConflicts(with: ["endpoint_id", "event_id"]).returning("id").all()
                    .map { try $0.decode(column: "id", as: UUID.self) })
            for delivery in chunk {
                if let taken = delivery.claimed, inserted.contains(taken.id) { claimed[delivery.endpoint, default: []].append(taken) }
            }
        }
        try await sql.update("outbox").set("dispatched_at", to: now).where("id", .in, events.map(\.id)).run()
        return (events.count, claimed)
    }

    /// A delivery still to do. Written as the literal the partial indexes of migration 9 name, so SQLite can prove
    /// they apply (it cannot for a bound value).
    private static let isPending = SQLRaw("status = 'pending'")

    /// A delivery taken for sending, with the event it carries.
    struct Claimed: Sendable {
        let id: UUID
        let eventID: UUID
        let type: String
        /// This attempt's number, from 1.
        let attempt: Int
        let payload: String
        let eventCreatedAt: Date
    }

    /// Takes up to `limit` due deliveries of `endpoint`: counts the attempt and pushes `next_attempt_at` to
    /// `leaseUntil`, so a delivery whose sender dies is due again then (at least once, never lost). One conditional
    /// `UPDATE` (one writer at a time on SQLite); on PostgreSQL rows another instance is claiming are skipped, not waited for.
    func claim(_ endpoint: UUID, limit: Int, at now: Date, leaseUntil: Date) async throws -> [Claimed] {
        try await database.transaction { sql in try await claim(endpoint, limit: limit, at: now, leaseUntil: leaseUntil, on: sql) }
    }

    private func claim(_ endpoint: UUID, limit: Int, at now: Date, leaseUntil: Date, on sql: any SQLDatabase) async throws -> [Claimed] {
        // PostgreSQL may run an `IN (… LIMIT n)` subquery more than once per UPDATE, taking more than n rows: the
        // chosen rows are materialized first there.
        let rows = try await sql.raw(
            database.engine == .postgres
                ? """
                WITH picked AS MATERIALIZED (SELECT id FROM webhook_deliveries WHERE endpoint_id = \(bind: endpoint) AND status = 'pending'
                    AND next_attempt_at <= \(bind: now) ORDER BY next_attempt_at LIMIT \(bind: limit) FOR UPDATE SKIP LOCKED)
                UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = \(bind: leaseUntil)
                FROM picked WHERE d.id = picked.id
                RETURNING d.id, d.event_id, d.event_type, d.attempts
                """
                : """
                UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = \(bind: leaseUntil)
                WHERE id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = \(bind: endpoint) AND status = 'pending'
                    AND next_attempt_at <= \(bind: now) ORDER BY next_attempt_at LIMIT \(bind: limit))
                RETURNING id, event_id, event_type, attempts
                """
        ).all()
        guard !rows.isEmpty else { return [] }
        let eventIDs = try rows.map { try $0.decode(column: "event_id", as: UUID.self) }
        var events: [UUID: (payload: String, createdAt: Date)] = [:]
        for row in try await sql.select().columns("id", "payload", "created_at").from("outbox").where("id", .in, eventIDs).all() {
            events[try row.decode(column: "id", as: UUID.self)] = (
                try row.decode(column: "payload", as: String.self), try row.decode(column: "created_at", as: Date.self)
            )
        }
        return try rows.compactMap { row in
            let eventID = try row.decode(column: "event_id", as: UUID.self)
            guard let event = events[eventID] else { return nil }
            return Claimed(
                id: try row.decode(column: "id", as: UUID.self), eventID: eventID,
                type: try row.decode(column: "event_type", as: String.self),
                attempt: try row.decode(column: "attempts", as: Int.self), payload: event.payload, eventCreatedAt: event.createdAt
            )
        }
    }

    /// Records an attempt's outcome: delivered, retried at `nextAttempt`, or dead (no `nextAttempt`).
    /// How one attempt of one delivery ended: delivered, due again at `nextAttempt`, or dead (neither).
    struct Outcome: Sendable {
        var delivery: UUID
        /// The attempt it ends (`Claimed.attempt`).
        var attempt: Int
        var delivered: Bool
        var statusCode: Int?
        var error: String?
        var nextAttempt: Date?
        var at: Date
        /// Claimed but never sent (the instance was stopping, or the endpoint was disabled meanwhile).
        var released = false

        static func release(_ delivery: Claimed, at now: Date) -> Outcome {
            Outcome(delivery: delivery.id, attempt: delivery.attempt, delivered: false, at: now, released: true)
        }
    }

    /// What one round of the delivery worker asks of the database.
    struct Round: Sendable {
        var outcomes: [Outcome] = []
        /// Fan new events out, when set.
        var fanOut: Date?
        /// How many deliveries to take per endpoint: its due ones first (for endpoints in `due`), then new ones.
        var claims: [(endpoint: UUID, limit: Int)] = []
        /// Endpoints with deliveries due (`work(for:at:)`); for the others the claim's `UPDATE` would find nothing.
        var due: Set<UUID> = []
        var now: Date
        var leaseUntil: Date
        var isEmpty: Bool { outcomes.isEmpty && fanOut == nil && claims.isEmpty }
    }

    /// Records the last round's outcomes, fans out new events and claims due deliveries, in one transaction: on
    /// SQLite every write waits for the one writer the orders need too, so the worker takes it once per round.
    func run(_ round: Round, batch: Int = 500) async throws -> (fanned: Int, claimed: [UUID: [Claimed]]) {
        guard !round.isEmpty else { return (0, [:]) }
        return try await database.transaction { sql in
            try await record(round.outcomes, on: sql)
            var claimed: [UUID: [Claimed]] = [:]
            for (endpoint, limit) in round.claims where round.due.contains(endpoint) {
                claimed[endpoint] = try await claim(endpoint, limit: limit, at: round.now, leaseUntil: round.leaseUntil, on: sql)
            }
            guard let moment = round.fanOut else { return (0, claimed) }
            // Deliveries due already go first; the room they leave is filled from the new events.
            let room = Dictionary(
                round.claims.map { ($0.endpoint, $0.limit - (claimed[$0.endpoint]?.count ?? 0)) }, uniquingKeysWith: +)
            let fresh = try await fanOut(at: moment, batch: batch, claiming: room, leaseUntil: round.leaseUntil, on: sql)
            claimed.merge(fresh.claimed, uniquingKeysWith: +)
            return (fresh.fanned, claimed)
        }
    }

    /// What a round has to do besides recording: whether there are events not fanned out yet, and which of
    /// `endpoints` have deliveries due by `now`. Reads, so an idle worker takes no write lock and a busy one's
    /// write runs no claim that would find nothing.
    func work(for endpoints: [UUID], at now: Date) async throws -> (events: Bool, due: Set<UUID>) {
        try await database.read { sql in
            let events =
                try await sql.select().column("id").from("outbox").where("dispatched_at", .is, SQLLiteral.null).limit(1).first() != nil
            var due: Set<UUID> = []
            for endpoint in endpoints
            where try await sql.select().column("id").from("webhook_deliveries").where("endpoint_id", .equal, endpoint)
                .where(Self.isPending).where("next_attempt_at", .lessThanOrEqual, now).limit(1).first() != nil
            {
                due.insert(endpoint)
            }
            return (events, due)
        }
    }

    /// Records the outcomes of a round's finished sends in one transaction (one write, not one per delivery: on
    /// SQLite every write waits for the one writer the orders need too). Only the attempt still in progress is
    /// ended: a late outcome, after the lease ran out and another round claimed the delivery again, changes nothing.
    func record(_ outcomes: [Outcome]) async throws {
        guard !outcomes.isEmpty else { return }
        try await database.transaction { sql in try await record(outcomes, on: sql) }
    }

    private func record(_ outcomes: [Outcome], on sql: any SQLDatabase) async throws {
        // The common case, deliveries answered alike, is one statement per status code (their time is the latest of
        // them, at most one round late); every other outcome is a statement of its own. Each finds its rows by id:
        // SQLite would scan the table for the row-value `IN` alone.
        let delivered = Dictionary(grouping: outcomes.filter { $0.delivered && !$0.released }) { $0.statusCode ?? 0 }
        for (statusCode, group) in delivered {
            guard let at = group.map(\.at).max() else { continue }
            let attempts = SQLList(group.map { SQLGroupExpression([SQLBind($0.delivery), SQLBind($0.attempt)]) })
            try await sql.update("webhook_deliveries").set("status", to: WebhookDelivery.Status.delivered.rawValue)
                .set("last_status_code", to: statusCode).set("last_error", to: SQLLiteral.null)
                .set("next_attempt_at", to: at).set("delivered_at", to: at)
                .where("id", .in, group.map(\.delivery)).where(Self.isPending)
                .where(SQLQueryString("(id, attempts) IN (VALUES \(attempts))")).run()
        }
        for outcome in outcomes where !outcome.delivered || outcome.released {
            guard !outcome.released else {
                // Never sent: the attempt is taken back and the delivery is due again at once.
                try await sql.update("webhook_deliveries").set(SQLIdentifier("attempts"), to: SQLRaw("attempts - 1"))
                    .set("next_attempt_at", to: outcome.at)
                    .where("id", .equal, outcome.delivery).where(Self.isPending)
                    .where("attempts", .equal, outcome.attempt).run()
                continue
            }
            let status: WebhookDelivery.Status = outcome.nextAttempt == nil ? .dead : .pending
            try await sql.update("webhook_deliveries").set("status", to: status.rawValue)
                .set("last_status_code", to: outcome.statusCode).set("last_error", to: outcome.error.map { String($0.prefix(500)) })
                .set("next_attempt_at", to: outcome.nextAttempt ?? outcome.at)
                .where("id", .equal, outcome.delivery).where(Self.isPending)
                .where("attempts", .equal, outcome.attempt).run()
        }
    }

    static let deliveryColumns = [
        "id", "endpoint_id", "event_id", "event_type", "status", "attempts", "last_status_code", "last_error", "next_attempt_at",
        "delivered_at", "created_at",
    ]
}
