import Foundation
import SQLKit

/// The plain way to place an order, on either store: in one transaction, read the lines' prices, write the order's
/// rows, then take each line's units with its own conditional `UPDATE`, in product order; any short line rolls it
/// all back. On SQLite, which runs one write transaction at a time, there is nothing to tune.
struct PortablePlacement: OrderPlacement {
    let steps: OrderSteps

    func place(_ request: OrderRequest) async throws -> PlacedOrder {
        try await steps.store.database.transaction { sql in
            try await steps.one(request, on: sql) { lines, answer in
                try await place(lines, for: request.customer, on: sql, storing: answer)
            }
        }
    }

    /// Places `lines` (in lock order) inside the caller's transaction.
    private func place(_ lines: [OrderLine], for customer: UUID, on sql: any SQLDatabase, storing answer: StoringAnswer?) async throws
        -> PlacedOrder
    {
        let placed = try steps.order(lines, for: customer, priced: try await steps.prices.entries(lines.map(\.product), on: sql))
        try await answer?(placed.json, sql)
        for rows in steps.rows(of: placed) { try await sql.raw(rows.insert).run() }
        var taken: [Bool] = []
        for line in lines {
            taken.append(try await sql.raw(steps.inventory.taking(line, while: steps.prices.orderable)).all().count == 1)
        }
        try await steps.refuseShort(lines, taken: taken, on: sql)
        return placed
    }
}
