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

    /// The `INSERT` as the `index`th step of a statement of CTEs, writing its rows only when the step `gate` (a CTE
    /// of the same statement) has a row: `, write_n AS (INSERT … SELECT v.* FROM (VALUES …) v, gate)`.
    func step(_ index: Int, when gate: String) -> SQLQueryString {
        ", write_\(unsafeRaw: String(index)) AS (INSERT INTO \(unsafeRaw: target) SELECT v.* FROM (" + values
            + ") v, \(unsafeRaw: gate))"
    }
}
