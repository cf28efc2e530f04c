import Foundation

/// A claimed `Idempotency-Key`: the request may run, and must complete the claim with its answer. The token proves
/// the claim is still this request's: a claim taken over after it went stale cannot be completed by the one that lost it.
struct IdempotencyClaim: Sendable {
    /// How far a key's request got, as stored in `idempotency_keys.state`.
    enum State: String, Sendable {
        /// Claimed: a request is working on it (or died doing so, and the claim goes stale).
        case running
        /// Answered: the stored response is replayed to every retry.
        case done
    }

    let customer: UUID
    let key: String
    let token: String
}
