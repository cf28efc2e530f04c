import Foundation
import Logging
import PostgresNIO
import Prometheus
import SQLKit
import Synchronization

/// The replica did not answer within the router's timeout.
struct ReplicaRouterDeadline: Error {}

/// Where catalog reads are served from: reads that may lag the primary by a moment.
protocol CatalogSource: Sendable {
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T
}

/// No replica: catalog reads go to the primary.
struct PrimarySource: CatalogSource {
    let database: any Database
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await database.read(body)
    }
}

/// Sends catalog reads to a read replica and falls back to the primary, within the same request, when the
/// replica fails or does not answer within `timeout` (a pool whose server is gone queues requests for a minute
/// before failing them). After a failure the replica rests for `rest`, so a dead replica costs one slow
/// attempt, not one per request. Writes never come here.
final class ReplicaRouter: CatalogSource {
    let primary: any Database
    let replica: any Database
    let logger: Logger
    private let timeout: Duration
    private let rest: Duration
    private let restingUntil = Mutex<ContinuousClock.Instant?>(nil)
    /// The primary's WAL position of the latest staff change; until the replica has replayed it, catalog reads go
    /// to the primary, so no instance caches a catalog older than a change it was told about.
    private let requiredPosition = Mutex<String?>(nil)
    /// Reads the replica answered.
    let served = Atomic<Int>(0)
    /// Reads that went to the primary because the replica failed or was resting.
    let fallbacks = Atomic<Int>(0)

    private let metrics: ShopMetrics?

    init(
        primary: any Database, replica: any Database, timeout: Duration = .seconds(1), rest: Duration = .seconds(5),
        metrics: ShopMetrics? = nil, logger: Logger
    ) {
        self.metrics = metrics
        self.primary = primary
        self.replica = replica
        self.timeout = timeout
        self.rest = rest
        self.logger = logger
    }

    private typealias NoAnswer = ReplicaRouterDeadline
    private struct Behind: Error {}

    /// A staff change committed at this WAL position (`pg_current_wal_lsn()`); replica reads must wait for it.
    /// Signals can arrive out of order, so the furthest position wins.
    func require(position: String) {
        guard let new = Self.walOffset(position) else { return }
        requiredPosition.withLock { current in
            if current.flatMap(Self.walOffset).map({ $0 < new }) ?? true { current = position }
        }
    }

    /// `16/B374D848` → its 64-bit WAL offset.
    static func walOffset(_ position: String) -> UInt64? {
        let parts = position.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16), high <= UInt32.max,
            low <= UInt32.max
        else { return nil }
        return high << 32 | low
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let now = ContinuousClock.now
        if !restingUntil.withLock({ until in until.map { now < $0 } ?? false }) {
            do {
                let value = try await onReplica(body)
                served.add(1, ordering: .relaxed)
                return value
            } catch is Behind {
                // The replica has not replayed the latest staff change yet: read this one from the primary.
                metrics?.replicaLagging.increment()
                return try await primary.read(body)
            } catch let error where !Self.isReplicaFailure(error) {
                throw error  // the request's own answer, such as a product that is not there
            } catch {
                restingUntil.withLock { $0 = ContinuousClock.now + rest }
                logger.warning("Replica read failed; reading from the primary", metadata: ["error": "\(error)"])
            }
        }
        fallbacks.add(1, ordering: .relaxed)
        metrics?.replicaFallbacks.increment()
        return try await primary.read(body)
    }

    /// Whether the replica answers now (for `/health/ready`); ends a rest period when it does.
    func replicaAnswers() async -> Bool {
        do {
            _ = try await onReplica { sql in try await sql.raw("SELECT 1 AS one").first() != nil }
            restingUntil.withLock { $0 = nil }
            return true
        } catch {
            return false
        }
    }

    /// Runs `body` on the replica, or throws when it has not answered within `timeout`. The read runs in a task of
    /// its own, so a query stuck on a dead server cannot hold the request: the caller moves on at the deadline and
    /// the stuck task is cancelled.
    /// Whether `error` says the replica failed (no answer in time, out of reach, or an error from PostgreSQL itself),
    /// rather than being the answer the read gives anyway.
    static func isReplicaFailure(_ error: any Error) -> Bool {
        error is NoAnswer || error is DatabaseUnavailable || error is PSQLError || isDatabaseUnavailable(error)
    }

    private func onReplica<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let position = requiredPosition.withLock { $0 }
        let value: T = try await withDeadline(timeout, orThrow: NoAnswer()) { [replica] in
            try await replica.read { sql in
                if let position {
                    let row = try await sql.raw("SELECT pg_last_wal_replay_lsn() >= \(bind: position)::pg_lsn AS caught_up").first()
                    guard try row?.decode(column: "caught_up", as: Bool?.self) == true else { throw Behind() }
                }
                return try await body(sql)
            }
        }
        if let position { requiredPosition.withLock { if $0 == position { $0 = nil } } }
        return value
    }
}
