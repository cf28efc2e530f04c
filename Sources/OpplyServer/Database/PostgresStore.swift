import Logging
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit

/// The production store: a `PostgresClient` pool; transactions run on one pooled connection under READ COMMITTED,
/// where a conditional `UPDATE` re-checks its `WHERE` after waiting for a row lock.
final class PostgresStore: Database {
    let engine = SQLEngine.postgres
    let client: PostgresClient
    private let logger: Logger
    /// The pool runs in its own task from creation, so migrations and CLI commands can use it before any service starts.
    private let runTask: Task<Void, Never>
    private let inUse = ConnectionsInUse()
    var connectionsInUse: Int { inUse.value }

    /// Creates the pool and waits until its run task has started, so the first query never races it.
    static func open(address: DatabaseURL.PostgresAddress, maxConnections: Int, logger: Logger) async -> PostgresStore {
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        let store = PostgresStore(address: address, maxConnections: maxConnections, logger: logger, started: signal)
        for await _ in started {}
        return store
    }

    private init(address: DatabaseURL.PostgresAddress, maxConnections: Int, logger: Logger, started: AsyncStream<Void>.Continuation) {
        let tls: PostgresClient.Configuration.TLS = switch address.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: address.host,
            port: address.port,
            username: address.username,
            password: address.password,
            database: address.database,
            tls: tls
        )
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.runTask = Task {
            started.finish()
            await client.run()
        }
    }

    func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            inUse.enter()
            defer { inUse.leave() }
            return try await body(connection.sql(queryLogLevel: nil, logger: logger))
        }
    }

    /// Runs `body` in a transaction, once more (up to three attempts) when PostgreSQL aborted it to break a deadlock
    /// or a serialization conflict: the whole transaction was rolled back, so running it again is safe.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await runTransaction(body)
            } catch let error as PSQLError where attempt < 3 && ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "") {
                logger.info("Retrying a transaction PostgreSQL aborted", metadata: ["sqlstate": "\(error.serverInfo?[.sqlState] ?? "")", "attempt": "\(attempt)"])
                attempt += 1
            }
        }
    }

    let begin = "BEGIN"

    func withWriter<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            inUse.enter()
            defer { inUse.leave() }
            return try await body(connection.sql(queryLogLevel: nil, logger: logger))
        }
    }

    func close() async {
        runTask.cancel()
        await runTask.value
    }
}
