import Foundation
import Prometheus
import SQLKit

/// The order rules: all-or-nothing placement at catalog prices, history, and cancellation that returns stock once.
struct OrderService: Sendable {
    let store: OrderStore
    let inventory: Inventory
    let outbox: Outbox
    let clock: WallClock
    let maxQuantity: Int
    let maxLines = 100
    /// How orders are written (chosen in `Shop` for the store).
    let placement: any OrderPlacement
    var metrics: ShopMetrics?

    struct PlaceOrder: Decodable, Sendable {
        struct Line: Decodable, Sendable {
            let product: UUID
            let quantity: Int
        }
        let orderItems: [Line]
    }

    /// Checks and merges the requested lines: quantities 1…max, at most 100 lines, one line per product.
    func lines(from request: PlaceOrder) throws -> [OrderLine] {
        guard !request.orderItems.isEmpty else { throw AppError.validation(field: "order_items", "An order needs at least one item.") }
        guard request.orderItems.count <= maxLines else {
            throw AppError.validation(field: "order_items", "At most \(maxLines) items per order.")
        }
        var problems: [FieldProblem] = []
        var merged: [UUID: OrderLine] = [:]
        for (index, item) in request.orderItems.enumerated() {
            guard (1...maxQuantity).contains(item.quantity) else {
                problems.append(FieldProblem("order_items[\(index)].quantity", "Must be a whole number from 1 to \(maxQuantity)."))
                continue
            }
            merged[item.product, default: OrderLine(product: item.product, quantity: 0, field: "order_items[\(index)]")].quantity +=
                item.quantity
        }
        for line in merged.values where line.quantity > maxQuantity {
            problems.append(FieldProblem("\(line.field).quantity", "Must be at most \(maxQuantity) in total for one product."))
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        return merged.values.inLockOrder(by: \.product)
    }

    /// Places an order of checked `lines`, the way `placement` writes orders; `answer`, when given, stores the
    /// order's JSON inside its transaction (an idempotent response).
    func place(_ lines: [OrderLine], for customer: UUID, storing answer: StoringAnswer? = nil) async throws -> PlacedOrder {
        try await place(OrderRequest(customer: customer, wanted: .lines(lines), answer: answer))
    }

    /// Turns a customer's cart into an order: every line or none, at catalog prices; any short line is `409` naming
    /// them all, and the cart stays as it was.
    func checkout(_ cart: CartCheckout, for customer: UUID, storing answer: StoringAnswer?) async throws -> PlacedOrder {
        try await place(OrderRequest(customer: customer, wanted: .cart(cart), answer: answer))
    }

    private func place(_ request: OrderRequest) async throws -> PlacedOrder {
        let placed = try await placement.place(request)
        metrics?.ordersPlaced.increment()
        return placed
    }

    /// Cancels a confirmed order and returns its stock, exactly once even when cancels and fulfilment race: only the
    /// winner of the status change puts stock back. `customer` limits it to their own order; nil is a staff cancel
    /// by `staff`, with its `reason` kept and recorded in the audit trail.
    func cancel(_ id: UUID, customer: UUID?, reason: String? = nil, by staff: Customer? = nil) async throws -> Order {
        try await store.database.transaction { sql in
            let order = try await leaveConfirmed(id, customer: customer, for: .cancelled, reason: reason, on: sql) {
                AppError.conflict(code: "order_not_cancellable", "This order is \($0.rawValue) and can no longer be cancelled.")
            }
            for item in order.items.inLockOrder(by: \.product) {
                try await inventory.putBack(item.product, item.quantity, on: sql)
            }
            try await outbox.record(.orderCancelled, data: order, at: order.updatedAt, on: sql)
            if let staff {
                try await StaffAction(by: staff, .orderCancelled, record: id, reason ?? "", at: order.updatedAt).record(on: sql)
            }
            return order
        }
    }

    /// Marks a confirmed order fulfilled by `staff`; a cancelled or already fulfilled one is `409`.
    func fulfil(_ id: UUID, note: String?, by staff: Customer) async throws -> Order {
        try await store.database.transaction { sql in
            let order = try await leaveConfirmed(id, customer: nil, for: .fulfilled, note: note, on: sql) {
                AppError.conflict(code: "order_not_fulfillable", "This order is \($0.rawValue) and cannot be fulfilled.")
            }
            try await outbox.record(.orderFulfilled, data: order, at: order.updatedAt, on: sql)
            try await StaffAction(by: staff, .orderFulfilled, record: id, note ?? "", at: order.updatedAt).record(on: sql)
            return order
        }
    }

    /// Moves a confirmed order to `status` with one conditional `UPDATE`, so of racing changes exactly one wins, and
    /// returns it; `404` when there is no such order (of this customer), `refusal(current status)` when it has left
    /// `confirmed` already.
    private func leaveConfirmed(
        _ id: UUID, customer: UUID?, for status: Order.Status, note: String? = nil, reason: String? = nil, on sql: any SQLDatabase,
        refusal: (Order.Status) -> AppError
    ) async throws -> Order {
        let moved = try await store.transition(
            id, customer: customer, from: .confirmed, to: status, at: clock.now, note: note, reason: reason, on: sql)
        guard let order = try await store.order(id, customer: customer, on: sql) else { throw AppError.notFound }
        guard moved else { throw refusal(order.status) }
        return order
    }

    /// One order; only the customer's own when `customer` is given (someone else's is `404`).
    func order(_ id: UUID, customer: UUID?) async throws -> Order {
        guard let order = try await store.database.read({ try await store.order(id, customer: customer, on: $0) }) else {
            throw AppError.notFound
        }
        return order
    }

    func orders(_ filter: OrderFilter, page: PageRequest) async throws -> (orders: [Order], count: Int) {
        try await store.orders(filter, page: page)
    }

    /// A keyset page of the orders `filter` matches, newest first (the back office's order desk).
    func orders(_ filter: OrderFilter, from position: UUID?, newer: Bool, limit: Int) async throws -> (orders: [Order], more: Bool) {
        try await store.page(filter, from: position, newer: newer, limit: limit)
    }

    /// How many orders `filter` matches, up to `cap`.
    func count(_ filter: OrderFilter, cap: Int) async throws -> Int {
        try await store.count(filter, cap: cap)
    }
}
