import Foundation
import SQLKit

/// Orders placed the way PostgreSQL serves fastest (docs/decisions/013, 015, 018): direct orders take turns per
/// product in this instance (`ProductTurns`); lines are priced from what the product was last ordered at
/// (`RecentPrices`) where it is known, a take then holding only at that name and price; and the whole order is one
/// statement of data-modifying CTEs, one round trip, which for a one-line order without a stored answer needs no
/// transaction around it. When a remembered product has moved, nothing was written and the order is placed again,
/// priced afresh.
struct PostgresPlacement: OrderPlacement {
    let steps: OrderSteps
    let turns: ProductTurns
    let recent = RecentPrices()

    func place(_ request: OrderRequest) async throws -> PlacedOrder {
        guard case .lines(let lines) = request.wanted else {  // a checkout: its lines come from the cart's transaction
            return try await steps.store.database.transaction { sql in
                try await steps.one(request, on: sql) { lines, answer in
                    try await place(lines, for: request.customer, on: sql, storing: answer, remembered: false)
                }
            }
        }
        let (customer, answer) = (request.customer, request.answer)
        return try await turns.inTurn(for: lines.map(\.product)) {
            func attempt(remembered: Bool) async throws -> PlacedOrder {
                if answer == nil, lines.count == 1 {  // one statement, all or nothing by itself
                    return try await steps.store.database.withWriter { sql in
                        try await place(lines, for: customer, on: sql, storing: nil, remembered: remembered)
                    }
                }
                return try await steps.store.database.transaction { sql in
                    try await place(lines, for: customer, on: sql, storing: answer, remembered: remembered)
                }
            }
            do {
                return try await attempt(remembered: true)
            } catch is PricesMoved {
                return try await attempt(remembered: false)
            }
        }
    }

    /// Prices the lines (from `recent` where `remembered`), stores the answer, then writes and takes in one
    /// statement; `PricesMoved` when a line priced from memory was not taken because its product moved.
    private func place(
        _ lines: [OrderLine], for customer: UUID, on sql: any SQLDatabase, storing answer: StoringAnswer?, remembered: Bool
    ) async throws -> PlacedOrder {
        let lines = lines.inLockOrder(by: \.product)
        let known = remembered ? recent.known(lines.map(\.product)) : [:]
        var catalog = known
        let unread = lines.map(\.product).filter { catalog[$0] == nil }
        if !unread.isEmpty {
            let read = try await steps.prices.entries(unread, on: sql)
            recent.remember(read)
            catalog.merge(read) { $1 }
        }
        let placed = try steps.order(lines, for: customer, priced: catalog)
        try await answer?(placed.json, sql)
        let takes = lines.map { line in
            steps.inventory.taking(line, while: known[line.product].map(steps.prices.unchanged(since:)) ?? steps.prices.orderable)
        }
        let taken = try await write(steps.rows(of: placed), taking: takes, on: sql)
        let failed = zip(lines, taken).filter { !$0.1 && known[$0.0.product] != nil }.map(\.0.product)
        if !failed.isEmpty {
            let read = try await steps.prices.entries(failed, on: sql)
            let moved = failed.filter { read[$0] != known[$0] }
            if !moved.isEmpty {
                recent.remember(read, forgetting: moved)
                throw PricesMoved()
            }
        }
        try await steps.refuseShort(lines, taken: taken, on: sql)
        return placed
    }

    /// Runs `takes` (Inventory's conditional stock `UPDATE`s, in product order) and writes `rows` only when every
    /// take held, as one statement; returns, for each take, whether it took its units. PostgreSQL runs the takes when
    /// the final `SELECT` reads them, in product order (no deadlocks between multi-line orders), and the inserts after
    /// them. A product's row lock is held from its `UPDATE` to the commit, which here follows at once.
    private func write(_ rows: [InsertRows], taking takes: [SQLQueryString], on sql: any SQLDatabase) async throws -> [Bool] {
        var statement: SQLQueryString = "WITH "
        for (index, take) in takes.enumerated() { statement += "take_\(unsafeRaw: String(index)) AS (" + take + "), " }
        statement += "taken AS ("
        for index in takes.indices {
            statement +=
                "\(unsafeRaw: index == 0 ? "" : " UNION ALL ")SELECT \(literal: index) AS line FROM take_\(unsafeRaw: String(index))"
        }
        statement += "), placed AS (SELECT 1 AS one FROM taken HAVING count(*) = \(literal: takes.count))"
        for (index, write) in rows.enumerated() { statement += write.step(index, when: "placed") }
        statement += " SELECT line FROM taken"
        let lines = Set(try await sql.raw(statement).all().map { try $0.decode(column: "line", as: Int.self) })
        return takes.indices.map(lines.contains)
    }
}

/// A line priced from `RecentPrices` was not taken because its product's name, price or archiving changed since:
/// nothing of the order stays, and it is placed again, priced afresh.
private struct PricesMoved: Error {}
