import Foundation
import SQLKit

/// How an order reaches the database. `OrderService` holds what an order is (its lines, checked once); a placement
/// prices the lines, writes the order with its lines and event, and takes every line's units, all or nothing, with
/// the steps in `OrderSteps` that every placement shares. Chosen once in `Shop`: `PortablePlacement`, plain and
/// the same on both stores, or `PostgresPlacement`, tuned for PostgreSQL.
protocol OrderPlacement: Sendable {
    /// Places an order in a transaction of its own; `answer`, when given, stores the order's JSON inside it.
    func place(_ lines: [OrderLine], for customer: UUID, storing answer: StoringAnswer?) async throws -> PlacedOrder

    /// Places an order inside the caller's transaction (a cart's checkout), which rolls back when it throws.
    func place(_ lines: [OrderLine], for customer: UUID, on sql: any SQLDatabase, storing answer: StoringAnswer?) async throws
        -> PlacedOrder
}

/// Stores an order's JSON answer inside the order's transaction.
typealias StoringAnswer = (Data, any SQLDatabase) async throws -> Void

/// A new order and its JSON, encoded once for its outbox event and its answer.
struct PlacedOrder: Sendable {
    let order: Order
    let json: Data
}

/// The rules every placement applies the same way: an order at the catalog's names and prices, refused with `400`
/// for a product that cannot be ordered; its rows; and the `409` that names every line short of stock.
struct OrderSteps: Sendable {
    let store: OrderStore
    let inventory: Inventory
    /// Names and prices copied into each line, and the conditions a take holds under (the catalog's).
    let prices: any PriceList
    let outbox: Outbox
    let clock: WallClock

    /// The confirmed order of `lines` (in lock order) for `customer` at the names and prices in `catalog`, and its
    /// JSON; `400` naming each line whose product is unknown or archived.
    func order(_ lines: [OrderLine], for customer: UUID, priced catalog: [UUID: PriceEntry]) throws -> PlacedOrder {
        let unknown = lines.filter { catalog[$0.product].map { $0.archived } ?? true }
        guard unknown.isEmpty else {
            throw AppError.validation(unknown.map { FieldProblem("\($0.field).product", "Unknown or discontinued product.") })
        }
        let now = clock.now
        let items = lines.compactMap { line in
            catalog[line.product].map {
                Order.Item(product: line.product, name: $0.name, quantity: line.quantity, priceMinor: $0.priceMinor)
            }
        }
        let order = Order(
            id: .timeOrdered(at: now), customer: customer, status: .confirmed, items: items, totalMinor: items.totalMinor,
            createdAt: now, updatedAt: now)
        return PlacedOrder(order: order, json: try JSONCoding.encoder.encode(order))
    }

    /// The order's row, its lines and its `order.confirmed` event.
    func rows(of placed: PlacedOrder) -> [InsertRows] {
        store.rows(of: placed.order) + [outbox.recording(.orderConfirmed, payload: placed.json, at: placed.order.createdAt)]
    }

    /// Nothing when every line took its units (`taken`, in the lines' order); else `409` naming each short line with
    /// what is left of it, for the caller to roll everything back. A checkout line whose reservation was not there
    /// breaks the books and throws.
    func refuseShort(_ lines: [OrderLine], taken: [Bool], on sql: any SQLDatabase) async throws {
        var short: [OrderLine] = []
        for (line, taken) in zip(lines, taken) where try !inventory.taken(line, returned: taken) {
            short.append(line)
        }
        guard !short.isEmpty else { return }
        let available = try await inventory.available(short.map(\.product), while: prices.orderable, on: sql)
        throw AppError.insufficientStock(
            "\(short.count) of \(lines.count) requested items are not available",
            errors: short.map { FieldProblem("\($0.field).quantity", "only \(max(0, available[$0.product] ?? 0)) available") }
        )
    }
}
