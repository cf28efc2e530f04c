import Foundation
import SQLKit

/// How an order reaches the database. `OrderService` holds what an order is (its lines, checked once); a placement
/// prices the lines, writes the order with its lines and event, and takes every line's units, all or nothing, with
/// the steps in `OrderSteps` that every placement shares. Chosen once in `Shop`: `BatchedPlacement`, which writes
/// the orders arriving together in one transaction, or one order at a time: `PortablePlacement`, plain and the same
/// on both stores, or `PostgresPlacement`, tuned for PostgreSQL.
protocol OrderPlacement: Sendable {
    /// Places `request`'s order in a transaction; its answer, when it has one, is stored inside it.
    func place(_ request: OrderRequest) async throws -> PlacedOrder
}

/// One order to place: a customer's lines, or their cart, and what stores its answer (an idempotent response).
struct OrderRequest: Sendable {
    enum Wanted: Sendable {
        /// Lines checked by `OrderService.lines(from:)`.
        case lines([OrderLine])
        /// The customer's cart, read inside the order's transaction.
        case cart(CartCheckout)
    }

    let customer: UUID
    let wanted: Wanted
    let answer: StoringAnswer?
}

/// How a cart becomes an order's lines, handed in by the cart: `claim` locks the customer's cart and reads its lines
/// (refusing an empty one) inside the order's transaction, before any product row is locked; `settle` empties it once
/// the order is placed, in the same transaction.
struct CartCheckout: Sendable {
    let claim: @Sendable (any SQLDatabase) async throws -> [OrderLine]
    let settle: @Sendable (any SQLDatabase) async throws -> Void
}

/// Stores an order's JSON answer inside the order's transaction.
typealias StoringAnswer = @Sendable (Data, any SQLDatabase) async throws -> Void

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

    /// Places one order in the caller's transaction with `place` (the lines, in lock order, and the answer): a cart
    /// is claimed first and emptied after.
    func one(
        _ request: OrderRequest, on sql: any SQLDatabase,
        _ place: ([OrderLine], StoringAnswer?) async throws -> PlacedOrder
    ) async throws -> PlacedOrder {
        switch request.wanted {
        case .lines(let lines):
            return try await place(lines.inLockOrder(by: \.product), request.answer)
        case .cart(let cart):
            let placed = try await place(try await cart.claim(sql).inLockOrder(by: \.product), request.answer)
            try await cart.settle(sql)
            return placed
        }
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
        throw Self.insufficient(short.map { ($0, available[$0.product] ?? 0) }, of: lines.count)
    }

    /// The `409` for an order of `count` lines whose `short` lines each had only `available` units left.
    static func insufficient(_ short: [(line: OrderLine, available: Int)], of count: Int) -> AppError {
        AppError.insufficientStock(
            "\(short.count) of \(count) requested items are not available",
            errors: short.map { FieldProblem("\($0.line.field).quantity", "only \(max(0, $0.available)) available") })
    }
}
