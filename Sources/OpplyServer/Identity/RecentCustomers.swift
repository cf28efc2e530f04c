import Foundation
import Synchronization

/// The accounts behind access tokens checked in the last `ttl`, so that a session's burst of requests costs one
/// read of its account instead of one per request. This instance forgets an account at once when it changes it
/// (its details, its staff rights, closing it); a change made elsewhere (another instance, the CLI) is seen within
/// `ttl`. Bounded: when full it starts afresh.
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

    /// The account, if it was read within `ttl`; else nil and the epoch to pass to `remember` with the fresh read.
    func customer(_ id: UUID) -> (customer: Customer?, epoch: Int) {
        state.withLock { state in
            guard let entry = state.entries[id], entry.until > .now else { return (nil, state.epoch) }
            return (entry.customer, state.epoch)
        }
    }

    /// Keeps an account read since `epoch`, unless an account was forgotten meanwhile (it may be the one read).
    func remember(_ customer: Customer, readSince epoch: Int) {
        state.withLock { state in
            guard state.epoch == epoch else { return }
            if state.entries.count >= capacity, state.entries[customer.id] == nil { state.entries.removeAll(keepingCapacity: true) }
            state.entries[customer.id] = (customer, .now + ttl)
        }
    }

    /// Drops an account this instance just changed.
    func forget(_ id: UUID) {
        state.withLock { state in
            state.entries[id] = nil
            state.epoch += 1
        }
    }
}
