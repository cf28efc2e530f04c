import Foundation
import Prometheus
import SQLKit

/// The order rules: all-or-nothing placement at catalog prices, history, and cancellation that returns stock once.
struct OrderService: Sendable {
    let store: OrderStore
    let inventory: Inventory
    /// Names and prices copied into each line (the catalog's).
    let prices: any PriceList
    let outbox: Outbox
    let clock: WallClock
    let maxQuantity: Int
    let maxLines = 100
    /// Where direct orders for one product take turns before their transaction.
    let turns: ProductTurns
    /// What direct orders were last priced at, so a repeat product needs no read.
    let recent = RecentPrices()
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

    /// Places an order once it is the turn of its products (`ProductTurns`), in its own transaction; `answer`, when
    /// given, stores the order's JSON inside it (an idempotent response). An order the store places all-or-nothing
    /// by itself (`OrderStore.placesAlone`), with no answer to store, runs without a transaction: two round trips
    /// fewer per order. It is priced from `recent` where it can; when one of those products has moved (its name,
    /// price or archiving), nothing was written and it is placed once more, priced afresh.
    func place(_ lines: [OrderLine], for customer: UUID, storing answer: StoringAnswer? = nil) async throws -> PlacedOrder {
        let placed = try await turns.inTurn(for: lines.map(\.product)) {
            func attempt(remembered: Bool) async throws -> PlacedOrder {
                if answer == nil, store.placesAlone(lines: lines.count) {
                    return try await store.database.withWriter { sql in
                        try await place(lines, for: customer, on: sql, remembered: remembered)
                    }
                }
                return try await store.database.transaction { sql in
                    try await place(lines, for: customer, on: sql, storing: answer, remembered: remembered)
                }
            }
            do {
                return try await attempt(remembered: true)
            } catch is PricesMoved {
                return try await attempt(remembered: false)
            }
        }
        metrics?.ordersPlaced.increment()
        return placed
    }

    /// Stores an order's JSON answer inside the order's transaction.
    typealias StoringAnswer = (Data, any SQLDatabase) async throws -> Void

    /// Prices the lines, stores the answer (`answer`), then writes the order and its outbox event and takes every
    /// line's stock, in ascending product order (so concurrent orders never deadlock), inside the caller's
    /// transaction. The order is encoded once, for its event and its answer. A product's row lock is held only from
    /// its `UPDATE` to the commit, which is what lets orders for one hot product follow each other quickly on
    /// PostgreSQL (where all of it is one statement). Any short line throws `409` after checking them all, and the
    /// caller rolls everything back. `remembered`: lines are priced from `recent` where it knows the product, and
    /// when such a line's take fails because the product moved, `PricesMoved` is thrown for the caller to roll back
    /// and place the order again without.
    func place(
        _ lines: [OrderLine], for customer: UUID, on sql: any SQLDatabase, storing answer: StoringAnswer? = nil, remembered: Bool = false
    ) async throws -> PlacedOrder {
        let lines = lines.inLockOrder(by: \.product)
        let known = remembered ? recent.known(lines.map(\.product)) : [:]
        var catalog = known
        let unread = lines.map(\.product).filter { catalog[$0] == nil }
        if !unread.isEmpty {
            let read = try await prices.entries(unread, on: sql)
            recent.remember(read)
            catalog.merge(read) { $1 }
        }
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
            id: .timeOrdered(at: now), customer: customer, status: .confirmed, items: items,
            totalMinor: items.totalMinor, createdAt: now, updatedAt: now
        )
        let json = try JSONCoding.encoder.encode(order)
        try await answer?(json, sql)
        let returned = try await store.insert(
            order, also: [outbox.recording(.orderConfirmed, payload: json, at: now)],
            taking: lines.map { inventory.taking($0, pricedAt: known[$0.product]) }, on: sql)
        let failed = zip(lines, returned).filter { !$0.1 && known[$0.0.product] != nil }.map(\.0.product)
        if !failed.isEmpty {
            let read = try await prices.entries(failed, on: sql)
            let moved = failed.filter { read[$0] != known[$0] }
            if !moved.isEmpty {
                recent.remember(read, forgetting: moved)
                throw PricesMoved()
            }
        }
        var short: [OrderLine] = []
        for (line, returned) in zip(lines, returned) where try !inventory.taken(line, returned: returned) {
            short.append(line)
        }
        guard short.isEmpty else {
            let available = try await inventory.available(short.map(\.product), on: sql)
            throw AppError.insufficientStock(
                "\(short.count) of \(lines.count) requested items are not available",
                errors: short.map { FieldProblem("\($0.field).quantity", "only \(max(0, available[$0.product] ?? 0)) available") }
            )
        }
        return PlacedOrder(order: order, json: json)
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

/// A line priced from `RecentPrices` was not taken because its product's name, price or archiving changed since:
/// nothing of the order stays, and it is placed again, priced afresh.
private struct PricesMoved: Error {}

/// A new order and its JSON, encoded once for its outbox event and its answer.
struct PlacedOrder: Sendable {
    let order: Order
    let json: Data
}
