import Foundation
import SQLKit

/// Orders placed in batches (docs/decisions/029): the orders that arrive while one batch is written form the next
/// (`OrderCombiner`), and a batch is one transaction. It locks the rows of every product in the batch in ascending
/// id order, decides in Swift, in arrival order, which orders fit (every line of an order or none; one that does not
/// fit is `409` exactly as it would be alone), writes the stock of all of them in one conditional statement and their
/// rows a statement per table, and commits; each customer hears only after the commit. A lone order is written by
/// `single`, exactly as without batches. A batch that cannot be written for one order's sake is split in two and
/// each half written again, until that order fails alone; a database out of reach fails the whole batch (`503`, which
/// a retry with the same `Idempotency-Key` may repeat safely).
struct BatchedPlacement: OrderPlacement {
    /// How one batch is written.
    let batch: OrderBatch
    private let combiner: OrderCombiner

    init(steps: OrderSteps, single: any OrderPlacement, locksRows: Bool, batchSize: Int, queueBound: Int, writers: Int) {
        let batch = OrderBatch(steps: steps, single: single, locksRows: locksRows)
        self.batch = batch
        combiner = OrderCombiner(batchSize: batchSize, queueBound: queueBound, writers: writers) { await batch.write($0) }
    }

    func place(_ request: OrderRequest) async throws -> PlacedOrder {
        try await combiner.place(request)
    }

    /// How many orders wait for their batch now.
    var waiting: Int { combiner.waiting }
}

/// The writing of one batch (a type of its own so that tests can hand it a batch in a known order).
struct OrderBatch: Sendable {
    let steps: OrderSteps
    /// How a batch of one is written.
    let single: any OrderPlacement
    /// Whether reading a batch's stock locks the rows (PostgreSQL; SQLite writes one transaction at a time anyway).
    let locksRows: Bool

    /// Each order's outcome, in the batch's order.
    func write(_ requests: [OrderRequest]) async -> [Result<PlacedOrder, any Error>] {
        if requests.count == 1 {
            do { return [.success(try await single.place(requests[0]))] } catch { return [.failure(error)] }
        }
        do {
            return try await steps.store.database.transaction { sql in try await decide(requests, on: sql) }
        } catch is DatabaseUnavailable {
            return requests.map { _ in .failure(DatabaseUnavailable()) }
        } catch {
            let half = requests.count / 2  // one order's rows could not be written: find it by halves
            return await write(Array(requests[..<half])) + write(Array(requests[half...]))
        }
    }

    /// Claims the carts, locks and reads the products, decides which orders fit, and writes those, all in `sql`.
    private func decide(_ requests: [OrderRequest], on sql: any SQLDatabase) async throws -> [Result<PlacedOrder, any Error>] {
        var outcomes = [Result<PlacedOrder, any Error>?](repeating: nil, count: requests.count)
        var wanted = [[OrderLine]](repeating: [], count: requests.count)
        // Carts before products, in customer order, as every cart change locks them.
        for index in requests.indices.inLockOrder(by: { requests[$0].customer }) {
            switch requests[index].wanted {
            case .lines(let lines):
                wanted[index] = lines.inLockOrder(by: \.product)
            case .cart(let cart):
                do {
                    wanted[index] = try await cart.claim(sql).inLockOrder(by: \.product)
                } catch let refusal as AppError {
                    outcomes[index] = .failure(refusal)  // an empty cart: this order alone
                }
            }
        }
        let products = Set(wanted.joined().map(\.product)).inLockOrder()
        let read = try await steps.inventory.levels(products, locking: locksRows, alongside: steps.prices.entryColumns, on: sql)
        let levels = read.mapValues { (onHand: $0.onHand, reserved: $0.reserved) }
        let catalog = try read.mapValues { try steps.prices.entry(from: $0.row) }
        var taken: [UUID: (direct: Int, held: Int)] = [:]
        var accepted: [(index: Int, placed: PlacedOrder)] = []
        for index in requests.indices where outcomes[index] == nil {
            do {
                let placed = try steps.order(wanted[index], for: requests[index].customer, priced: catalog)
                try Self.fit(wanted[index], levels: levels, taken: taken)
                for line in wanted[index] {
                    if line.reserved {
                        taken[line.product, default: (0, 0)].held += line.quantity
                    } else {
                        taken[line.product, default: (0, 0)].direct += line.quantity
                    }
                }
                accepted.append((index, placed))
            } catch {
                outcomes[index] = .failure(error)
            }
        }
        try await write(taken, Self.merged(accepted.flatMap { steps.rows(of: $0.placed) }), on: sql)
        for (index, placed) in accepted {
            try await requests[index].answer?(placed.json, sql)
            if case .cart(let cart) = requests[index].wanted { try await cart.settle(sql) }
            outcomes[index] = .success(placed)
        }
        return outcomes.map { $0 ?? .failure(DatabaseUnavailable()) }  // every order has its outcome by now
    }

    /// Takes the batch's stock and writes its rows: on PostgreSQL in one statement, whose inserts run only when every
    /// product gave its units (so the products stay locked for one round trip less per table); on SQLite a statement
    /// each.
    private func write(_ taken: [UUID: (direct: Int, held: Int)], _ rows: [InsertRows], on sql: any SQLDatabase) async throws {
        guard locksRows, !taken.isEmpty else {
            try await steps.inventory.take(taken, while: steps.prices.orderable, on: sql)
            for insert in rows { try await sql.raw(insert.insert).run() }
            return
        }
        var statement: SQLQueryString = "WITH take AS (" + steps.inventory.taking(taken, while: steps.prices.orderable) + ")"
        statement += ", placed AS (SELECT 1 AS one FROM take HAVING count(*) = \(literal: taken.count))"
        for (index, insert) in rows.enumerated() { statement += insert.step(index, when: "placed") }
        let count = try await sql.raw(statement + " SELECT count(*) AS taken FROM take").first()?.decode(column: "taken", as: Int.self)
        guard count == taken.count else { throw StockInvariantBroken(productID: taken.keys.first ?? UUID(), operation: "take a batch") }
    }

    /// Nothing when every line of an order fits in what the batch's earlier orders left (`taken` of the locked
    /// `levels`); else the `409` one-at-a-time placement would give, naming each short line with what is left. A
    /// checkout line whose reservation is not there breaks the books and throws.
    private static func fit(_ lines: [OrderLine], levels: [UUID: (onHand: Int, reserved: Int)], taken: [UUID: (direct: Int, held: Int)])
        throws
    {
        var short: [(line: OrderLine, available: Int)] = []
        for line in lines {
            let level = levels[line.product] ?? (0, 0)
            let earlier = taken[line.product] ?? (0, 0)
            if line.reserved {
                guard level.reserved - earlier.held >= line.quantity else {
                    throw StockInvariantBroken(productID: line.product, operation: "take reserved \(line.quantity)")
                }
            } else if level.onHand - level.reserved - earlier.direct < line.quantity {
                short.append((line, level.onHand - level.reserved - earlier.direct))
            }
        }
        guard short.isEmpty else { throw OrderSteps.insufficient(short, of: lines.count) }
    }

    /// The orders' rows as one insert per table (in the order the tables were first given), each within a bound of
    /// binds a statement may carry.
    private static func merged(_ rows: [InsertRows]) -> [InsertRows] {
        var targets: [String] = []
        var byTarget: [String: [[any Encodable & Sendable]]] = [:]
        for insert in rows {
            if byTarget[insert.target] == nil { targets.append(insert.target) }
            byTarget[insert.target, default: []] += insert.rows
        }
        return targets.flatMap { target -> [InsertRows] in
            let all = byTarget[target] ?? []
            let perStatement = max(1, 30_000 / max(1, all.first?.count ?? 1))
            return stride(from: 0, to: all.count, by: perStatement).map {
                InsertRows(target: target, rows: Array(all[$0..<min($0 + perStatement, all.count)]))
            }
        }
    }
}
