import Foundation
import Synchronization

/// The exact `count` of each product filter, kept until the catalog's versions move (`catalog_version`, migration 8),
/// so a list of a million products counts them once, not on every page. A hit costs one one-row read of the versions;
/// a count read in the same statement as the versions it was taken at is exact for them, on any instance, whoever
/// changed the catalog (a staff request, another instance, `opply seed`). Beside them, where a search's first match
/// lies in name order (`CatalogStore.page(_:from:)`), under the same versions.
final class CatalogCounts: Sendable {
    /// What a count was taken at: `catalog` moves with every product change a filter can see, `stock` with every
    /// product whose availability crosses zero.
    struct Versions: Equatable, Sendable {
        var catalog: Int
        var stock: Int

        /// Whether what was read at these versions still stands at `now`, for a filter that does or does not see stock.
        func holds(at now: Versions, inStock: Bool) -> Bool {
            catalog == now.catalog && (!inStock || stock == now.stock)
        }
    }

    private struct Entry {
        var versions: Versions
        var count: Int
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int
    /// Counts taken from the table (the misses).
    let recounts = Atomic<Int>(0)

    init(capacity: Int = 4_096) {
        self.capacity = capacity
    }

    /// The count for `filter` if it was taken at `versions`; a filter that ignores stock ignores the stock version.
    func count(for filter: String, inStock: Bool, at versions: Versions) -> Int? {
        entries.withLock { entries in
            guard let entry = entries[filter], entry.versions.holds(at: versions, inStock: inStock) else { return nil }
            return entry.count
        }
    }

    /// Live products per category, as counted at catalog version `catalog`, if that is still the version.
    func perCategory(at catalog: Int) -> [String: Int]? {
        categories.withLock { $0?.catalog == catalog ? $0?.counts : nil }
    }

    func store(perCategory counts: [String: Int], at catalog: Int) {
        recounts.add(1, ordering: .relaxed)
        categories.withLock { $0 = (catalog, counts) }
    }

    private let categories = Mutex<(catalog: Int, counts: [String: Int])?>(nil)

    /// Where a name-order search walk from one start found its first match, and at which versions.
    struct FirstMatch: Sendable {
        var name: String
        var id: UUID
        var versions: Versions
    }

    private let firstMatches = Mutex<[String: FirstMatch]>([:])

    /// Where the walk from `start` (a filter, an ordering and a position) last found its first match, if known.
    func firstMatch(from start: String) -> FirstMatch? {
        firstMatches.withLock { $0[start] }
    }

    func store(firstMatch: FirstMatch, from start: String) {
        firstMatches.withLock { matches in
            if matches.count >= capacity, matches[start] == nil { matches.removeAll(keepingCapacity: true) }
            matches[start] = firstMatch
        }
    }

    func store(_ count: Int, for filter: String, at versions: Versions) {
        recounts.add(1, ordering: .relaxed)
        entries.withLock { entries in
            // Filters are few in practice; past the bound (someone walking every price range) start over.
            if entries.count >= capacity, entries[filter] == nil { entries.removeAll(keepingCapacity: true) }
            entries[filter] = Entry(versions: versions, count: count)
        }
    }
}
