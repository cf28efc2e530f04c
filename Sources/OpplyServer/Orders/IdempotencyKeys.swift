import Crypto
import Foundation
import Hummingbird
import SQLKit

/// `Idempotency-Key` for requests that create orders: a retry with the same key and body gets the first answer
/// again and takes no more stock. Keys are scoped to the customer and kept 24 hours.
///
/// A key is claimed (`running`) before the work starts; a successful order stores its response in the same
/// transaction as the order, so an order never exists without its stored answer. A claim left behind by a crash
/// can be taken over after `staleAfter`.
struct IdempotencyKeys: Sendable {
    let database: any Database
    let clock: WallClock
    var lifetime: TimeInterval = 86_400
    var staleAfter: TimeInterval = 60

    /// A claimed key: the work may run, and must `complete` it. The token proves the claim is still this
    /// request's: a claim taken over after `staleAfter` cannot be completed by the request that lost it.
    struct Claim: Sendable {
        let customer: UUID
        let key: String
        let token: String
    }

    private static let inUse = AppError.conflict(code: "idempotency_key_in_use", "A request with this Idempotency-Key is still being processed.")

    enum Outcome: Sendable {
        case claimed(Claim)
        case replay(status: Int, body: String)
    }

    /// The key from the request, if any; `400` when it is not 1–255 characters.
    static func key(in request: Request) throws -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.count) else { throw AppError.validation(field: "Idempotency-Key", "Must be 1 to 255 characters.") }
        return key
    }

    /// SHA-256 of method, path and the body with its keys sorted, so formatting does not matter.
    static func fingerprint(method: String, path: String, body: Data) -> String {
        let canonical = (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]))
            .flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) } ?? body
        let trimmedPath = path.hasSuffix("/") ? String(path.dropLast()) : path
        var hasher = SHA256()
        hasher.update(data: Data("\(method) \(trimmedPath)\n".utf8))
        hasher.update(data: canonical)
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    func begin(customer: UUID, key: String, fingerprint: String) async throws -> Outcome {
        try await database.transaction { sql in
            let now = clock.now
            let claim = Claim(customer: customer, key: key, token: randomToken(bytes: 16))
            let inserted = try await sql.insert(into: "idempotency_keys")
                .columns("customer_id", "idem_key", "request_hash", "state", "created_at", "expires_at", "claim_token")
                .values(SQLBind(customer), SQLBind(key), SQLBind(fingerprint), SQLBind("running"), SQLBind(now), SQLBind(now + lifetime), SQLBind(claim.token))
                .ignoringConflicts(with: ["customer_id", "idem_key"])
                .returning("idem_key").all()
            if !inserted.isEmpty { return .claimed(claim) }

            guard let row = try await sql.select().columns("request_hash", "state", "status_code", "response_body", "created_at", "expires_at")
                .from("idempotency_keys").where("customer_id", .equal, customer).where("idem_key", .equal, key).first()
            else { throw Self.inUse }
            let expired = try row.decode(column: "expires_at", as: Date.self) <= now
            let stale = try row.decode(column: "created_at", as: Date.self) <= now - staleAfter
            let state = try row.decode(column: "state", as: String.self)
            if expired || (state == "running" && stale) {
                // A finished key past its lifetime, or a claim whose request died: start afresh, if no other
                // request took it over first (the conditions are re-checked by the update itself).
                let taken = try await sql.update("idempotency_keys")
                    .set("request_hash", to: fingerprint).set("state", to: "running").set("claim_token", to: claim.token)
                    .set("status_code", to: SQLLiteral.null).set("response_body", to: SQLLiteral.null)
                    .set("created_at", to: now).set("expires_at", to: now + lifetime)
                    .where("customer_id", .equal, customer).where("idem_key", .equal, key)
                    .where { condition in
                        condition.where("expires_at", .lessThanOrEqual, now)
                            .orWhere { $0.where("state", .equal, "running").where("created_at", .lessThanOrEqual, now - staleAfter) }
                    }
                    .returning("idem_key").all()
                guard taken.isEmpty else { return .claimed(claim) }
                throw Self.inUse
            }
            guard try row.decode(column: "request_hash", as: String.self) == fingerprint else {
                throw AppError(.unprocessableContent, code: "idempotency_key_reused", title: "Idempotency key reused",
                               detail: "This Idempotency-Key was used with a different request.")
            }
            guard state == "done", let status = try row.decode(column: "status_code", as: Int?.self),
                let body = try row.decode(column: "response_body", as: String?.self)
            else { throw Self.inUse }
            return .replay(status: status, body: body)
        }
    }

    /// Stores the answer for a claimed key, in the caller's transaction when given one. Throws `409` when the claim
    /// was taken over meanwhile, which rolls back the caller's transaction: one key, one order.
    func complete(_ claim: Claim, status: Int, body: String, on sql: any SQLDatabase) async throws {
        let stored = try await sql.update("idempotency_keys").set("state", to: "done").set("status_code", to: status).set("response_body", to: body)
            .where("customer_id", .equal, claim.customer).where("idem_key", .equal, claim.key)
            .where("claim_token", .equal, claim.token).where("state", .equal, "running")
            .returning("idem_key").all()
        guard !stored.isEmpty else { throw Self.inUse }
    }

    func complete(_ claim: Claim, status: Int, body: String) async throws {
        try await database.transaction { try await complete(claim, status: status, body: body, on: $0) }
    }

    /// Forgets a claim whose request failed unexpectedly, so a retry may run it again.
    func abandon(_ claim: Claim) async {
        _ = try? await database.transaction { sql in
            try await sql.delete(from: "idempotency_keys").where("customer_id", .equal, claim.customer)
                .where("idem_key", .equal, claim.key).where("claim_token", .equal, claim.token).where("state", .equal, "running").run()
        }
    }

    func deleteExpired() async throws {
        try await database.transaction { sql in
            try await sql.delete(from: "idempotency_keys").where("expires_at", .lessThan, clock.now).run()
        }
    }

    /// Runs `work` under the request's `Idempotency-Key` (or plainly without one). `work` gets the claim to complete
    /// inside its own transaction; answers it did not store (a `4xx` problem) are stored here.
    func run(
        _ request: Request, customer: UUID, body: Data,
        work: (Claim?) async throws -> (status: HTTPResponse.Status, body: Data)
    ) async throws -> Response {
        guard let key = try Self.key(in: request) else {
            let result = try await work(nil)
            return Self.response(status: result.status, body: result.body)
        }
        let fingerprint = Self.fingerprint(method: request.method.rawValue, path: request.uri.path, body: body)
        switch try await begin(customer: customer, key: key, fingerprint: fingerprint) {
        case .replay(let status, let stored):
            var response = Self.response(status: HTTPResponse.Status(code: status), body: Data(stored.utf8))
            response.headers[.idempotentReplayed] = "true"
            return response
        case .claimed(let claim):
            do {
                let result = try await work(claim)
                return Self.response(status: result.status, body: result.body)
            } catch let error as AppError where (400..<500).contains(error.status.code) {
                try await complete(claim, status: error.status.code, body: String(decoding: try error.body(), as: UTF8.self))
                throw error
            } catch {
                await abandon(claim)
                throw error
            }
        }
    }

    /// Answers a request that creates an order (direct, or a cart checkout) under its `Idempotency-Key`: `place`
    /// gets the request body and a closure to run inside the order's transaction, which stores the answer.
    func createOrder(
        _ request: Request, customer: UUID,
        place: (ByteBuffer, _ inTransaction: (Order, any SQLDatabase) async throws -> Void) async throws -> Void
    ) async throws -> Response {
        let body = try await JSONCoding.body(of: request)
        return try await run(request, customer: customer, body: Data(body.readableBytesView)) { claim in
            var encoded = Data()
            try await place(body) { order, sql in
                encoded = try JSONCoding.encoder.encode(order)
                if let claim { try await complete(claim, status: 201, body: String(decoding: encoded, as: UTF8.self), on: sql) }
            }
            return (.created, encoded)
        }
    }

    static func response(status: HTTPResponse.Status, body: Data) -> Response {
        let type = status.code >= 400 ? "application/problem+json" : "application/json"
        return Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
