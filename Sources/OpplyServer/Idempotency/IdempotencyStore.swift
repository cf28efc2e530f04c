import Foundation
import HTTPTypes
import SQLKit

/// The SQL of `Idempotency-Key`s: `idempotency_keys`, scoped to the customer and kept 24 hours, for every request
/// that creates an order (a direct order or a cart checkout).
///
/// A key is claimed (`running`) before the work starts; a successful order stores its response in the same
/// transaction as the order, so an order never exists without its stored answer. A claim left behind by a crash
/// can be taken over after `staleAfter`. What a second request with a key may do is `IdempotencyRecord.verdict`.
struct IdempotencyStore: Sendable {
    let database: any Database
    let clock: WallClock
    var lifetime: TimeInterval = 86_400
    var staleAfter: TimeInterval = 60

    enum Outcome: Sendable {
        case claimed(IdempotencyClaim)
        case replay(status: Int, body: String)
    }

    private static let inUse = AppError.conflict(
        code: "idempotency_key_in_use", "A request with this Idempotency-Key is still being processed.")
    private static let reused = AppError(
        .unprocessableContent, code: "idempotency_key_reused", title: "Idempotency key reused",
        detail: "This Idempotency-Key was used with a different request.")

    /// Claims the key for a request with `fingerprint`, or says what to answer instead.
    func begin(customer: UUID, key: String, fingerprint: String) async throws -> Outcome {
        try await database.transaction { sql in
            let now = clock.now
            let claim = IdempotencyClaim(customer: customer, key: key, token: randomToken(bytes: 16))
            let inserted = try await sql.insert(into: "idempotency_keys")
                .columns("customer_id", "idem_key", "request_hash", "state", "created_at", "expires_at", "claim_token")
                .values(
                    SQLBind(customer), SQLBind(key), SQLBind(fingerprint), SQLBind(IdempotencyClaim.State.running.rawValue), SQLBind(now),
                    SQLBind(now + lifetime), SQLBind(claim.token)
                )
                .ignoringConflicts(with: ["customer_id", "idem_key"])
                .returning("idem_key").all()
            if !inserted.isEmpty { return .claimed(claim) }

            guard let record = try await record(customer: customer, key: key, on: sql) else { throw Self.inUse }
            switch record.verdict(for: fingerprint, at: now, staleAfter: staleAfter) {
            case .takeOver:
                guard try await takeOver(claim, fingerprint: fingerprint, at: now, on: sql) else { throw Self.inUse }
                return .claimed(claim)
            case .replay(let status, let body): return .replay(status: status, body: body)
            case .inUse: throw Self.inUse
            case .reused: throw Self.reused
            }
        }
    }

    private func record(customer: UUID, key: String, on sql: any SQLDatabase) async throws -> IdempotencyRecord? {
        guard
            let row = try await sql.select().columns("request_hash", "state", "status_code", "response_body", "created_at", "expires_at")
                .from("idempotency_keys").where("customer_id", .equal, customer).where("idem_key", .equal, key).first()
        else { return nil }
        let state = try row.decode(column: "state", as: String.self)
        guard let known = IdempotencyClaim.State(rawValue: state) else { throw UnknownIdempotencyState(state: state) }
        return IdempotencyRecord(
            requestHash: try row.decode(column: "request_hash", as: String.self), state: known,
            statusCode: try row.decode(column: "status_code", as: Int?.self),
            responseBody: try row.decode(column: "response_body", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self), expiresAt: try row.decode(column: "expires_at", as: Date.self)
        )
    }

    /// Starts a finished key past its lifetime, or a claim whose request died, afresh for `claim`, unless another
    /// request took it over first: the update re-checks the conditions itself.
    private func takeOver(_ claim: IdempotencyClaim, fingerprint: String, at now: Date, on sql: any SQLDatabase) async throws -> Bool {
        let running = IdempotencyClaim.State.running.rawValue
        return try await !sql.update("idempotency_keys")
            .set("request_hash", to: fingerprint).set("state", to: running).set("claim_token", to: claim.token)
            .set("status_code", to: SQLLiteral.null).set("response_body", to: SQLLiteral.null)
            .set("created_at", to: now).set("expires_at", to: now + lifetime)
            .where("customer_id", .equal, claim.customer).where("idem_key", .equal, claim.key)
            .where { condition in
                condition.where("expires_at", .lessThanOrEqual, now)
                    .orWhere { $0.where("state", .equal, running).where("created_at", .lessThanOrEqual, now - staleAfter) }
            }
            .returning("idem_key").all().isEmpty
    }

    /// Stores the answer for a claimed key, in the caller's transaction. Throws `409` when the claim was taken over
    /// meanwhile, which rolls back the caller's transaction: one key, one order.
    func complete(_ claim: IdempotencyClaim, status: Int, body: String, on sql: any SQLDatabase) async throws {
        let stored = try await sql.update("idempotency_keys").set("state", to: IdempotencyClaim.State.done.rawValue)
            .set("status_code", to: status).set("response_body", to: body)
            .where("customer_id", .equal, claim.customer).where("idem_key", .equal, claim.key)
            .where("claim_token", .equal, claim.token).where("state", .equal, IdempotencyClaim.State.running.rawValue)
            .returning("idem_key").all()
        guard !stored.isEmpty else { throw Self.inUse }
    }

    func complete(_ claim: IdempotencyClaim, status: Int, body: String) async throws {
        try await database.transaction { try await complete(claim, status: status, body: body, on: $0) }
    }

    /// Forgets a claim whose request failed unexpectedly, so a retry may run it again.
    func abandon(_ claim: IdempotencyClaim) async {
        _ = try? await database.transaction { sql in
            try await sql.delete(from: "idempotency_keys").where("customer_id", .equal, claim.customer)
                .where("idem_key", .equal, claim.key).where("claim_token", .equal, claim.token)
                .where("state", .equal, IdempotencyClaim.State.running.rawValue).run()
        }
    }

    /// Drops keys past their lifetime; run by the janitor.
    func deleteExpired() async throws {
        try await database.transaction { sql in
            try await sql.delete(from: "idempotency_keys").where("expires_at", .lessThan, clock.now).run()
        }
    }
}

/// A key's row holds a state this code never writes; the request fails as a logged `500` rather than guess.
struct UnknownIdempotencyState: Error, CustomStringConvertible {
    let state: String
    var description: String { "idempotency key in unknown state \(state)" }
}
