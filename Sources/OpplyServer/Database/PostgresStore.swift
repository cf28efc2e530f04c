import Logging
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// The production store: a `PostgresClient` pool; transactions run on one pooled connection under READ COMMITTED,
/// where a conditional `UPDATE` re-checks its `WHERE` after waiting for a row lock.
///
/// A request waits at most `acquireTimeout` for a connection, then answers `503 database_unavailable`: while the
/// server is down the pool would queue it for a minute. Only the wait times out; once a connection is lent, the
/// body runs to its end (a transaction commits or rolls back, never stops halfway).
final class PostgresStore: Database {
    let engine = SQLEngine.postgres
    let client: PostgresClient
    private let logger: Logger
    /// The pool runs in its own task from creation, so migrations and CLI commands can use it before any service starts.
    private let runTask: Task<Void, Never>
    private let inUse = ConnectionsInUse()
    var connectionsInUse: Int { inUse.value }
    let acquireTimeout: Duration

    /// Creates the pool and waits until its run task has started, so the first query never races it.
    static func open(
        address: DatabaseURL.PostgresAddress, maxConnections: Int, acquireTimeout: Duration = .seconds(2), logger: Logger
    ) async -> PostgresStore {
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        let store = PostgresStore(
            address: address, maxConnections: maxConnections, acquireTimeout: acquireTimeout, logger: logger, started: signal)
        for await _ in started {}
        return store
    }

    private init(
        address: DatabaseURL.PostgresAddress, maxConnections: Int, acquireTimeout: Duration, logger: Logger,
        started: AsyncStream<Void>.Continuation
    ) {
        let tls: PostgresClient.Configuration.TLS =
            switch address.tls {
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
        // No keep-alive queries: postgres-nio arms a sleeping timer for them every time a connection goes back to the
        // pool and cancels it when the connection is lent again, and on Linux (Swift 6.3) each cancelled `Task.sleep`
        // keeps a little memory until exit (docs/decisions/014). Idle connections are closed after 60 s anyway, before a
        // middlebox would drop them. (`minimumConnections` stays 0: postgres-nio 1.33 traps when a lease asks for a
        // connection while fewer than the minimum are open, as in an outage.)
        configuration.options.maximumConnections = maxConnections
        configuration.options.keepAliveBehavior = nil
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.acquireTimeout = acquireTimeout
        self.runTask = Task {
            started.finish()
            await client.run()
        }
    }

    func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    /// Runs `body` in a transaction, once more (up to three attempts) when PostgreSQL aborted it to break a deadlock
    /// or a serialization conflict: the whole transaction was rolled back, so running it again is safe.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await runTransaction(body)
            } catch let error as PSQLError where attempt < 3 && ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "") {
                logger.info(
                    "Retrying a transaction PostgreSQL aborted",
                    metadata: ["sqlstate": "\(error.serverInfo?[.sqlState] ?? "")", "attempt": "\(attempt)"])
                attempt += 1
            }
        }
    }

    let begin = "BEGIN"

    func withWriter<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await withConnection(body)
    }

    /// Runs `body` on a pooled connection obtained within `acquireTimeout`, else throws `503 database_unavailable`;
    /// a lost connection is a `503` too. A holder task leases the connection and lends it to this task until `body`
    /// is done, so the lease can be abandoned at the deadline while `body`, once started, is never cut short.
    private func withConnection<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await mappingUnavailable(logger) {
            let loan = ConnectionLoan()
            let holder = Task { [client] in
                do {
                    try await client.withConnection { connection in
                        guard loan.lend(connection) else { return }
                        await loan.returned()
                    }
                } catch {
                    loan.fail(error)
                }
            }
            let timeout = acquireTimeout
            let timer = Alarm(after: timeout) {
                if loan.fail(AcquireTimedOut()) { holder.cancel() }
            }
            let connection: PostgresConnection
            do {
                connection = try await loan.connection()
                timer.cancel()
            } catch {
                timer.cancel()
                holder.cancel()
                loan.giveBack()
                if error is AcquireTimedOut {
                    logger.warning("No database connection within the acquire timeout", metadata: ["timeout": "\(timeout)"])
                    throw DatabaseUnavailable()
                }
                throw error
            }
            inUse.enter()
            defer { inUse.leave() }
            do {
                let value = try await body(OpenConnectionSQL(connection: connection, logger: logger))
                loan.giveBack()
                await holder.value
                return value
            } catch {
                loan.giveBack()
                await holder.value
                throw error
            }
        }
    }

    func close() async {
        runTask.cancel()
        await runTask.value
    }
}

/// No pooled connection was lent within the acquire timeout.
struct AcquireTimedOut: Error {}

/// The server had already ended the connection when a statement was to be sent on it.
struct ConnectionEnded: Error {}

/// One lent connection's statements, each sent from the connection's event loop after checking that the connection
/// is still open. postgres-nio 1.33 writes a statement to a closed channel without ever failing it, so a statement
/// sent on a connection the server has just ended (a restart, a failover, `pg_terminate_backend`) would wait forever;
/// on the event loop, an open channel hands the statement to postgres-nio, which fails it when the connection ends.
private struct OpenConnectionSQL: SQLDatabase {
    let connection: PostgresConnection
    let base: any SQLDatabase

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.base = connection.sql(queryLogLevel: nil, logger: logger)
    }

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        connection.eventLoop.flatSubmit { [connection, base] in
            guard !connection.isClosed else { return connection.eventLoop.makeFailedFuture(ConnectionEnded()) }
            return base.execute(sql: query, onRow)
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await execute(sql: query, onRow).get()
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }
}

/// One connection lent by the pool's holder task to the request's task: lent or failed (the deadline, or the
/// pool's error), whichever comes first, once; the holder keeps the lease until the request gives it back.
private final class ConnectionLoan: Sendable {
    private struct State {
        var decided = false
        var waiter: CheckedContinuation<PostgresConnection, any Error>?
        var outcome: Result<PostgresConnection, any Error>?
        var givenBack = false
        var holder: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Hands `connection` to the request; false when the request stopped waiting (the holder returns it at once).
    func lend(_ connection: PostgresConnection) -> Bool {
        settle(.success(connection))
    }

    /// Ends the wait with `error`; false when a connection was already lent.
    @discardableResult
    func fail(_ error: any Error) -> Bool {
        settle(.failure(error))
    }

    private func settle(_ outcome: Result<PostgresConnection, any Error>) -> Bool {
        let (settled, waiter) = state.withLock { state -> (Bool, CheckedContinuation<PostgresConnection, any Error>?) in
            guard !state.decided else { return (false, nil) }
            state.decided = true
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter)
            }
            state.outcome = outcome
            return (true, nil)
        }
        waiter?.resume(with: outcome)
        return settled
    }

    /// Waits for the connection or the failure; a cancelled request stops waiting at once.
    func connection() async throws -> PostgresConnection {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let outcome = state.withLock { state -> Result<PostgresConnection, any Error>? in
                    if let outcome = state.outcome { return outcome }
                    state.waiter = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            fail(CancellationError())
        }
    }

    /// The request is done with the connection (or never took it).
    func giveBack() {
        let holder = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.givenBack = true
            defer { state.holder = nil }
            return state.holder
        }
        holder?.resume()
    }

    /// The holder waits here, keeping the lease, until the request gives the connection back.
    func returned() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.givenBack { return true }
                state.holder = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}
