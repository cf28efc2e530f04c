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
