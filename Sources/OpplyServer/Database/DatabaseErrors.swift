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

/// Recognises a failed `CHECK` constraint (the stock rule `0 <= reserved <= on_hand`) on either engine.
func checkViolation(_ error: any Error) -> Bool {
    if let error = error as? PSQLError { return error.serverInfo?[.sqlState] == "23514" }
    if let error = error as? SQLiteError { return error.reason == .constraintCheckFailed }
    return false
}
