import Foundation
import Logging
import PostgresNIO
import SQLKit
import ServiceLifecycle

/// Cross-instance catalog invalidation on PostgreSQL: a staff change `NOTIFY`s the channel after commit, and every
/// instance `LISTEN`s and drops its catalog cache. The listener reconnects with backoff when its connection drops,
/// and drops the cache each time its `LISTEN` takes effect (start-up included), since a signal sent before then is
/// missed.
struct CatalogListener: Service {
    static let channel = "opply_catalog"
    let client: PostgresClient
    let cache: CatalogCache
    let replica: ReplicaRouter?
    let instance: UUID
    let logger: Logger

    func run() async throws {
        var backoff: Duration = .milliseconds(250)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let started = ContinuousClock.now
            do {
                try await cancelWhenGracefulShutdown {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            cache.invalidate()  // anything cached before now may have missed a signal
                            for try await notification in notifications {
                                let signal = Signal(notification.payload)
                                guard signal.instance != instance else { continue }  // dropped at the write already
                                if let position = signal.position { replica?.require(position: position) }
                                cache.invalidate()
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning(
                    "Catalog listener lost its connection; reconnecting", metadata: ["error": "\(error)", "backoff": "\(backoff)"])
            }
            if ContinuousClock.now - started > .seconds(10) { backoff = .milliseconds(250) }  // it had been working
            let wait = backoff * Double.random(in: 0.5...1)  // jittered: instances that lost the server together spread out
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            backoff = min(backoff * 2, .seconds(30))
        }
    }

    /// A signal's payload: the sending instance and the primary's WAL position after the change,
    /// `"<instance uuid> <position>"`.
    struct Signal: Equatable {
        var instance: UUID?
        var position: String?

        init(instance: UUID?, position: String?) {
            self.instance = instance
            self.position = position
        }

        /// Also reads the older payload, a bare position.
        init(_ payload: String) {
            let parts = payload.split(separator: " ", maxSplits: 1).map(String.init)
            if let first = parts.first, let instance = UUID(uuidString: first) {
                self.init(instance: instance, position: parts.count == 2 ? parts[1] : nil)
            } else {
                self.init(instance: nil, position: payload.isEmpty ? nil : payload)
            }
        }

        var payload: String { [instance?.uuidString, position].compactMap { $0 }.joined(separator: " ") }
    }

    /// Tells the other instances that the catalog changed, with the primary's WAL position after the change,
    /// so their replica-routed reads wait for the replica to have it (and so do this instance's).
    static func notify(_ database: any Database, replica: ReplicaRouter?, from instance: UUID, logger: Logger) async {
        do {
            let position = try await database.read { sql in
                try await sql.raw("SELECT pg_current_wal_lsn()::text AS position").first()?.decode(column: "position", as: String.self)
            }
            if let position { replica?.require(position: position) }
            let payload = Signal(instance: instance, position: position).payload
            try await database.read { sql in try await sql.raw("SELECT pg_notify(\(bind: channel), \(bind: payload))").run() }
        } catch {
            logger.warning(
                "Could not signal a catalog change; other instances catch up within the cache TTL", metadata: ["error": "\(error)"])
        }
    }
}
