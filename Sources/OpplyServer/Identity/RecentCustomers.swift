import Foundation
import Synchronization

/// The accounts behind access tokens checked in the last `ttl`, keyed by the token's refresh family (a token from
/// before families were carried: by the account), so that a session's burst of requests costs one read of its
/// account and of its family's revocation instead of one per request. This instance forgets at once what it changes
/// (an account's details, staff rights or closing; a family revoked by logout or by reuse of a spent refresh
/// token); a change made elsewhere (another instance, the CLI) is seen within `ttl`. Bounded: when full it starts
/// afresh.
final class RecentCustomers: Sendable {
    let ttl: Duration
    let capacity: Int
    private struct State {
        var entries: [UUID: (customer: Customer, until: ContinuousClock.Instant)] = [:]
        /// Counts forgets, so a read that started before one is not remembered after it.
        var epoch = 0
    }
    private let state = Mutex(State())

    init(ttl: Duration = .seconds(1), capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The account behind `key` (a family, or an account id), if read within `ttl`; else nil and the epoch to pass to
    /// `remember` with the fresh read.
    func customer(_ key: UUID) -> (customer: Customer?, epoch: Int) {
        state.withLock { state in
            guard let entry = state.entries[key], entry.until > .now else { return (nil, state.epoch) }
            return (entry.customer, state.epoch)
        }
    }

    /// Keeps an account read since `epoch` under `key`, unless something was forgotten meanwhile (it may be this).
    func remember(_ customer: Customer, as key: UUID, readSince epoch: Int) {
        state.withLock { state in
            guard state.epoch == epoch else { return }
            if state.entries.count >= capacity, state.entries[key] == nil { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = (customer, .now + ttl)
        }
    }

    /// Drops an account this instance just changed, under every key it is remembered by.
    func forget(_ id: UUID) {
        state.withLock { state in
            state.entries = state.entries.filter { $0.key != id && $0.value.customer.id != id }
            state.epoch += 1
        }
    }

    /// Drops a refresh family this instance just revoked.
    func forget(family: UUID) {
        state.withLock { state in
            state.entries[family] = nil
            state.epoch += 1
        }
    }
}
