import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SQLKit

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}

/// The HTTP side of `Idempotency-Key`: reads and checks the header, fingerprints the request, and answers a retry
/// with the stored response (`Idempotent-Replayed: true`) instead of running it again.
struct IdempotentResponder: Sendable {
    let store: IdempotencyStore

    /// The key from the request, if any; `400` when it is not 1–255 bytes (it is part of a B-tree key).
    static func key(in request: Request) throws -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count) else { throw AppError.validation(field: "Idempotency-Key", "Must be 1 to 255 bytes.") }
        return key
    }

    /// SHA-256 of method, path and the body with its keys sorted, so formatting does not matter.
    static func fingerprint(method: String, path: String, body: Data) -> String {
        let canonical =
            (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]))
            .flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) } ?? body
        let trimmedPath = path.hasSuffix("/") ? String(path.dropLast()) : path
        var hasher = SHA256()
        hasher.update(data: Data("\(method) \(trimmedPath)\n".utf8))
        hasher.update(data: canonical)
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Runs `work` under the request's `Idempotency-Key` (or plainly without one). `work` gets the claim to complete
    /// inside its own transaction; answers it did not store (a `4xx` problem) are stored here.
    func run(
        _ request: Request, customer: UUID, body: Data,
        work: (IdempotencyClaim?) async throws -> (status: HTTPResponse.Status, body: Data)
    ) async throws -> Response {
        guard let key = try Self.key(in: request) else {
            let result = try await work(nil)
            return Self.response(status: result.status, body: result.body)
        }
        let fingerprint = Self.fingerprint(method: request.method.rawValue, path: request.uri.path, body: body)
        switch try await store.begin(customer: customer, key: key, fingerprint: fingerprint) {
        case .replay(let status, let stored):
            var response = Self.response(status: HTTPResponse.Status(code: status), body: Data(stored.utf8))
            response.headers[.idempotentReplayed] = "true"
            return response
        case .claimed(let claim):
            do {
                let result = try await work(claim)
                return Self.response(status: result.status, body: result.body)
            } catch let error as AppError where error.status == .badRequest {
                // A request that fails validation is not the request the key stands for: no record, so the corrected
                // request may use the same key.
                await store.abandon(claim)
                throw error
            } catch let error as AppError where (400..<500).contains(error.status.code) {
                try await store.complete(claim, status: error.status.code, body: String(decoding: try error.body(), as: UTF8.self))
                throw error
            } catch {
                await store.abandon(claim)
                throw error
            }
        }
    }

    /// Answers a request that creates an order (direct, or a cart checkout) under its `Idempotency-Key`: `place`
    /// gets the request body and, under a key, what stores the answer inside the order's transaction.
    func createOrder(
        _ request: Request, customer: UUID, place: (ByteBuffer, StoringAnswer?) async throws -> PlacedOrder
    ) async throws -> Response {
        let body = try await JSONCoding.body(of: request, limit: .order)
        return try await run(request, customer: customer, body: Data(body.readableBytesView)) { claim in
            let answer = claim.map { claim in
                { @Sendable (json: Data, sql: any SQLDatabase) in
                    try await store.complete(claim, status: 201, body: String(decoding: json, as: UTF8.self), on: sql)
                }
            }
            return (.created, try await place(body, answer).json)
        }
    }

    static func response(status: HTTPResponse.Status, body: Data) -> Response {
        let type = status.code >= 400 ? "application/problem+json" : "application/json"
        return Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
