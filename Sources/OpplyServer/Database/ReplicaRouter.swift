import Foundation
import Logging
import SQLKit
import Synchronization

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
/// before failing them). After a failure the replica rests for `pause`, so a dead replica costs one slow
/// attempt, not one per request. Writes never come here.
final class ReplicaRouter: CatalogSource {
    let primary: any Database
    let replica: any Database
    let logger: Logger
    private let timeout: Duration
    private let pause: Duration
    private let restingUntil = Mutex<ContinuousClock.Instant?>(nil)
    /// The primary's WAL position of the latest staff change; until the replica has replayed it, catalog reads go
    /// to the primary, so no instance caches a catalog older than a change it was told about.
    private let requiredPosition = Mutex<String?>(nil)
    /// Reads that went to the primary because the replica failed or was resting.
    let fallbacks = Atomic<Int>(0)

    init(primary: any Database, replica: any Database, timeout: Duration = .seconds(1), pause: Duration = .seconds(5), logger: Logger) {
        self.primary = primary
        self.replica = replica
        self.timeout = timeout
        self.pause = pause
        self.logger = logger
    }

    private struct NoAnswer: Error {}
    private struct Behind: Error {}

    /// A staff change committed at this WAL position (`pg_current_wal_lsn()`); replica reads must wait for it.
    func require(position: String) {
        requiredPosition.withLock { $0 = position }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let now = ContinuousClock.now
        if !restingUntil.withLock({ until in until.map { now < $0 } ?? false }) {
            do {
                return try await onReplica(body)
            } catch let error as AppError {
                throw error
            } catch is Behind {
                // The replica has not replayed the latest staff change yet: read this one from the primary.
            } catch {
                restingUntil.withLock { $0 = ContinuousClock.now + pause }
                logger.warning("Replica read failed; reading from the primary", metadata: ["error": "\(error)"])
            }
        }
        fallbacks.add(1, ordering: .relaxed)
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

    /// Runs `body` on the replica, or throws when it has not answered within `timeout`.
    private func onReplica<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let position = requiredPosition.withLock { $0 }
        let value = try await withThrowingTaskGroup(of: T?.self) { [replica, timeout] group in
            group.addTask {
                try await replica.read { sql in
                    if let position {
                        let row = try await sql.raw("SELECT pg_last_wal_replay_lsn() >= \(bind: position)::pg_lsn AS caught_up").first()
                        guard try row?.decode(column: "caught_up", as: Bool?.self) == true else { throw Behind() }
                    }
                    return try await body(sql)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw NoAnswer() }
            return value
        }
        if let position { requiredPosition.withLock { if $0 == position { $0 = nil } } }
        return value
    }
}
