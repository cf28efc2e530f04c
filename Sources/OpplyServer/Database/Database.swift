import Logging
public import SQLKit
import ServiceLifecycle

/// The SQL engine behind a `Database`; the few statements that differ between engines switch on it.
public enum SQLEngine: String, Sendable {
    case sqlite
    case postgres
}

/// The one way the server talks to its store: SQLKit statements inside a read or a write transaction.
///
/// Both engines give the same guarantees to callers: `transaction` runs its body atomically
/// (rolled back on any thrown error), and `read` sees committed data only.
public protocol Database: Sendable {
    var engine: SQLEngine { get }
    /// Runs `body` with a connection for reads that need no transaction.
    func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body` inside one write transaction; a thrown error rolls everything back.
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T
    /// Throws when the database does not answer.
    func ping() async throws
    /// Closes every connection; the store is unusable afterwards.
    func close() async
    /// Runs `body` on a connection that no other task uses meanwhile (for one transaction).
    func withWriter<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T
    /// The statement that opens a write transaction.
    var begin: String { get }
    /// Connections running a query or a transaction right now (for `/metrics`).
    var connectionsInUse: Int { get }
}

extension Database {
    /// `begin`, the body, then `COMMIT`, or `ROLLBACK` when the body throws (a `CommitThenThrow` commits, then
    /// throws). Both engines run their transactions through here.
    func runTransaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await withWriter { sql in
            try await sql.raw(SQLQueryString(begin)).run()
            do {
                let result = try await body(sql)
                try await sql.raw("COMMIT").run()
                return result
            } catch let deferred as CommitThenThrow {
                try await sql.raw("COMMIT").run()
                throw deferred.error
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    public func ping() async throws {
        try await read { sql in _ = try await sql.raw("SELECT 1 AS one").first() }
    }
}

/// An error thrown inside a transaction after its effects must still be committed
/// (for example, revoking a token family before answering `401`).
struct CommitThenThrow: Error {
    let error: any Error
}

/// Closes the database after everything else has stopped (services stop in reverse order of start). The close
/// runs in a task of its own, so it completes even when the group is cancelled after another service failed.
struct DatabaseService: Service {
    let database: any Database

    func run() async throws {
        try? await gracefulShutdown()
        await Task { [database] in await database.close() }.value
    }
}
