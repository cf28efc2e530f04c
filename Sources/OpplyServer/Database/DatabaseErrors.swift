import Logging
import PostgresNIO
import SQLiteNIO

/// Recognises a unique-constraint violation on either engine and returns the engine's message,
/// which names the violated column or index (for example `username_key`).
func uniqueViolation(_ error: any Error) -> String? {
    if let error = error as? PSQLError, error.serverInfo?[.sqlState] == "23505" {
        return (error.serverInfo?[.constraintName] ?? "") + " " + (error.serverInfo?[.message] ?? "")
    }
    if let error = error as? SQLiteError, error.reason == .constraintUniqueFailed || error.reason == .constraintPrimaryKeyFailed {
        return error.message
    }
    return nil
}

/// Recognises an error that says the database is out of reach rather than that the request was wrong: a lost or
/// refused PostgreSQL connection, a server shutting down or starting up, or a SQLite file that is locked,
/// read-only or failing I/O. Such errors become `DatabaseUnavailable`, answered `503`, never `500`.
func isDatabaseUnavailable(_ error: any Error) -> Bool {
    if error is ConnectionEnded { return true }
    if let error = error as? PSQLError {
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            // 08: connection exception; 57P01–57P03: shutting down, crashed, starting up; 53300: too many connections.
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300"].contains(state)
        default:
            return false
        }
    }
    if let error = error as? SQLiteError {
        switch error.reason {
        case .busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked, .lockedBySharedCache,
            .readOnly, .readonlyInRecovery, .readonlyCantLock, .readonlyInRollback, .readonlyBackingMoved, .readonlyDirectory,
            .ioError, .ioErrorFailedRead, .ioErrorIncompleteRead, .ioErrorFailedWrite, .ioErrorFailedSync, .ioErrorFailedDirSync,
            .ioErrorFailedTruncate, .ioErrorFailedStat, .ioErrorFailedUnlock, .ioErrorFailedReadLock, .ioErrorFailedDelete,
            .ioErrorFailedAccess, .ioErrorFailedLockCheck, .ioErrorFailedAdvisoryLock, .ioErrorFailedSharedMemOpen,
            .ioErrorFailedSharedMemSize, .ioErrorFailedSharedMemMap, .ioErrorFailedMemoryMap, .full, .cantOpen:
            return true
        default:
            return false
        }
    }
    return false
}

/// The database is out of reach: a lost or refused connection, none free within the acquire timeout, a locked or
/// failing file. The HTTP layer answers it `503 database_unavailable` with `Retry-After`; the request was not wrong.
struct DatabaseUnavailable: Error, CustomStringConvertible {
    var description: String { "the database is unavailable" }
}

/// Runs `body`, turning an engine's error that says the database is out of reach into `DatabaseUnavailable` (logged
/// once, here).
func mappingUnavailable<T>(_ logger: Logger, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error where isDatabaseUnavailable(error) {
        logger.warning("Database unavailable", metadata: ["error": "\(String(reflecting: error))"])
        throw DatabaseUnavailable()
    }
}
