import Foundation
import NIOCore
import Prometheus
import Synchronization

/// Encoded catalog responses kept in memory per normalized query, each with its ETag, for `ttl`;
/// bounded, least recently used first out. A staff change drops everything at once (`invalidate`).
final class CatalogCache: Sendable {
    struct Entry: Sendable {
        let body: ByteBuffer
        let etag: String
        let expires: Date
        var lastUsed: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var generation: UInt64 = 0
        var tick: UInt64 = 0
    }

    private let state = Mutex(State())
    private let ttl: Duration
    private let capacity: Int
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    private let metrics: ShopMetrics?
    private let clock: WallClock

    init(ttl: Duration, capacity: Int, clock: WallClock = WallClock(), metrics: ShopMetrics? = nil) {
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        self.metrics = metrics
    }

    /// The cached body for `key`, or the result of `make` (stored unless a staff change happened meanwhile).
    func body(for key: String, make: () async throws -> ByteBuffer) async throws -> (body: ByteBuffer, etag: String) {
        let now = clock.now
        let (cached, generation) = state.withLock { state -> (Entry?, UInt64) in
            state.tick += 1
            guard let entry = state.entries[key] else { return (nil, state.generation) }
            guard entry.expires > now else {
                state.entries[key] = nil
                return (nil, state.generation)
            }
            state.entries[key]?.lastUsed = state.tick
            return (entry, state.generation)
        }
        if let cached {
            hits.add(1, ordering: .relaxed)
            metrics?.cacheHits.increment()
            return (cached.body, cached.etag)
        }
        misses.add(1, ordering: .relaxed)
        metrics?.cacheMisses.increment()
        let body = try await make()
        let etag = Self.etag(of: body)
        guard ttl > .zero, capacity > 0 else { return (body, etag) }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity, state.entries[key] == nil,
                let oldest = state.entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key
            {
                state.entries[oldest] = nil
            }
            state.entries[key] = Entry(body: body, etag: etag, expires: now + ttl.timeInterval, lastUsed: state.tick)
        }
        return (body, etag)
    }

    /// Drops every entry; a response being built from older data will not be stored.
    func invalidate() {
        state.withLock { state in
            state.entries.removeAll(keepingCapacity: true)
            state.generation += 1
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
    /// How many times the cache has been dropped (staff changes, signals from other instances, and each time the
    /// catalog listener's `LISTEN` takes effect).
    var generation: UInt64 { state.withLock { $0.generation } }

    /// A strong ETag: FNV-1a (64-bit) of the body.
    static func etag(of body: ByteBuffer) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body.readableBytesView {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return "\"\(String(hash, radix: 16))\""
    }
}
