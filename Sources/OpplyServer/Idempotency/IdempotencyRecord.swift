import Foundation

/// A key's row as stored: which request it was for, how far that got, and its answer once there is one. Its
/// `verdict` is the rule for a request arriving with a key that is already there.
struct IdempotencyRecord: Sendable {
    let requestHash: String
    let state: IdempotencyClaim.State
    let statusCode: Int?
    let responseBody: String?
    let createdAt: Date
    let expiresAt: Date

    /// What a request arriving with this key may do.
    enum Verdict: Equatable, Sendable {
        /// Start afresh: the key outlived its lifetime, or its request died (a stale claim).
        case takeOver
        /// Answer with the stored response.
        case replay(status: Int, body: String)
        /// The first request is still running: `409`.
        case inUse
        /// The key was used with a different request: `422`.
        case reused
    }

    func verdict(for fingerprint: String, at now: Date, staleAfter: TimeInterval) -> Verdict {
        if expiresAt <= now || (state == .running && createdAt <= now - staleAfter) { return .takeOver }
        guard requestHash == fingerprint else { return .reused }
        guard state == .done, let statusCode, let responseBody else { return .inUse }
        return .replay(status: statusCode, body: responseBody)
    }
}
