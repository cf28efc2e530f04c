import Foundation
import Synchronization

/// The names and prices orders were last placed at, so that a direct order for a product seen before needs no read
/// of it: one round trip fewer per order. Never trusted blindly: a line priced from here is taken only while the
/// product still has that name and price (`PriceList.unchanged(since:)`), and an order whose product moved is
/// priced afresh and placed again (`PostgresPlacement`). Archived products are not kept. Bounded: when full it starts
/// afresh.
final class RecentPrices: Sendable {
    let capacity: Int
    private let entries = Mutex<[UUID: PriceEntry]>([:])

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The entries known for `ids`.
    func known(_ ids: [UUID]) -> [UUID: PriceEntry] {
        entries.withLock { entries in
            var known: [UUID: PriceEntry] = [:]
            for id in ids { known[id] = entries[id] }
            return known
        }
    }

    /// Keeps entries just read from the catalog, and forgets `moved` ones that are no longer there to order.
    func remember(_ read: [UUID: PriceEntry], forgetting moved: [UUID] = []) {
        entries.withLock { entries in
            for id in moved { entries[id] = nil }
            for (id, entry) in read {
                guard !entry.archived else {
                    entries[id] = nil
                    continue
                }
                if entries.count >= capacity, entries[id] == nil { entries.removeAll(keepingCapacity: true) }
                entries[id] = entry
            }
        }
    }
}
