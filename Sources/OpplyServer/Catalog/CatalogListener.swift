import Logging
import PostgresNIO
import ServiceLifecycle

/// Cross-instance catalog invalidation on PostgreSQL: a staff change `NOTIFY`s the channel after commit, and every
/// instance `LISTEN`s and drops its catalog cache. The listener reconnects with backoff when its connection drops,
/// and drops the cache on every reconnect, since it may have missed a signal meanwhile.
struct CatalogListener: Service {
    static let channel = "opply_catalog"
    let client: PostgresClient
    let cache: CatalogCache
    let logger: Logger

    func run() async throws {
        var backoff: Duration = .milliseconds(250)
        var attempts = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let started = ContinuousClock.now
            let isReconnect = attempts > 0
            attempts += 1
            do {
                try await cancelWhenGracefulShutdown {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            if isReconnect { cache.invalidate() }  // signals may have been missed while away
                            for try await _ in notifications { cache.invalidate() }
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

    /// Tells every instance (this one included) that the catalog changed.
    static func notify(_ database: any Database, logger: Logger) async {
        do {
            try await database.read { sql in try await sql.raw("SELECT pg_notify(\(bind: channel), '')").run() }
        } catch {
            logger.warning("Could not signal a catalog change; other instances catch up within the cache TTL", metadata: ["error": "\(error)"])
        }
    }
}
