import SQLKit

/// Rows for one table, kept apart from the statement that writes them: an order's rows are inserted one statement
/// each on SQLite and inside the one statement that places the order on PostgreSQL (`PostgresPlacement`). The
/// text is put together from constants and binds only, without SQLKit's builders, because it is written for
/// every order.
struct InsertRows: Sendable {
    /// A table name and its columns, `"orders (id, status)"`: constants of the code, never input.
    let target: String
    let rows: [[any Encodable & Sendable]]

    /// `VALUES (…), (…)`, every value bound.
    var values: SQLQueryString {
        var text: SQLQueryString = "VALUES "
        for (index, row) in rows.enumerated() {
            text += index == 0 ? "(" : ", ("
            for (column, value) in row.enumerated() { text += column == 0 ? "\(bind: value)" : ", \(bind: value)" }
            text += ")"
        }
        return text
    }

    /// The `INSERT` on its own.
    var insert: SQLQueryString { "INSERT INTO \(unsafeRaw: target) " + values }
}
