import Logging
import PostgresNIO
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
                                if !notification.payload.isEmpty { replica?.require(position: notification.payload) }
                                cache.invalidate()
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning("Catalog listener lost its connection; reconnecting", metadata: ["error": "\(error)", "backoff": "\(backoff)"])
            }
            if ContinuousClock.now - started > .seconds(10) { backoff = .milliseconds(250) }  // it had been working
            let wait = backoff
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            backoff = min(backoff * 2, .seconds(30))
        }
    }

    /// Tells every instance (this one included) that the catalog changed, with the primary's WAL position
    /// after the change, so replica-routed reads wait for the replica to have it.
    static func notify(_ database: any Database, replica: ReplicaRouter?, logger: Logger) async {
        do {
            let position = try await database.read { sql in
                try await sql.raw("SELECT pg_current_wal_lsn()::text AS position").first()?.decode(column: "position", as: String.self)
            }
            if let position { replica?.require(position: position) }
            try await database.read { sql in try await sql.raw("SELECT pg_notify(\(bind: channel), \(bind: position ?? ""))").run() }
        } catch {
            logger.warning("Could not signal a catalog change; other instances catch up within the cache TTL", metadata: ["error": "\(error)"])
        }
    }
}
