import Foundation
import Logging
import Prometheus
import SQLKit

/// The cart rules. Adding reserves stock at once; every change extends the cart's life by the cart TTL; an
/// untouched cart's reservations are released by the sweeper while its lines stay, so checkout can re-reserve
/// what is still there, all or nothing.
struct CartService: Sendable {
    let store: CartStore
    let inventory: Inventory
    let orders: OrderService
    /// Names, prices and whether a product may go in a cart (the catalog's).
    let prices: any PriceList
    /// Serializes one customer's cart changes (Identity's lock on the customer).
    let lock: any CartLock
    let clock: WallClock
    let ttl: Duration
    /// The longest one reservation lasts however often its cart is touched (`CART_MAX_HOLD`).
    var maxHold: Duration = .seconds(3_600)
    let maxQuantity: Int

    struct AddItem: Decodable, Sendable {
        let product: UUID
        let quantity: Int
    }

    struct SetQuantity: Decodable, Sendable {
        let quantity: Int
    }

    func cart(of customer: UUID) async throws -> Cart {
        try await store.cart(of: customer, prices: prices)
    }

    /// Most distinct products in one cart, as in one order.
    let maxLines = 100

    /// Adds units to a line, reserving them; `409` with what is available when they are not.
    /// A line the sweeper released is re-reserved whole, together with the new units.
    func add(_ item: AddItem, for customer: UUID) async throws -> Cart {
        guard (1...maxQuantity).contains(item.quantity) else {
            throw AppError.validation(field: "quantity", "Must be a whole number from 1 to \(maxQuantity).")
        }
        try await changingCart(of: customer) { sql in
            guard try await prices.isOrderable(item.product, on: sql) else {
                throw AppError.validation(field: "product", "Unknown or discontinued product.")
            }
            let line = try await store.claim(customer: customer, product: item.product, on: sql).first
            let total = (line?.quantity ?? 0) + item.quantity
            guard total <= maxQuantity else {
                throw AppError.validation(field: "quantity", "At most \(maxQuantity) of one product in a cart.")
            }
            if line == nil, try await store.lineCount(customer: customer, on: sql) >= maxLines {
                throw AppError.validation(field: "product", "A cart holds at most \(maxLines) products.")
            }
            let held = line.map { $0.held ? $0.quantity : 0 } ?? 0
            try await reserveOrExplain(item.product, total - held, field: "quantity", already: held, on: sql)
            try await putHeld(line, customer: customer, product: item.product, quantity: total, on: sql)
        }
        return try await store.cart(of: customer, prices: prices)
    }

    /// Sets a line's quantity: grows by reserving the difference, shrinks by releasing it, 0 removes the line.
    func set(_ product: UUID, to quantity: Int, for customer: UUID) async throws -> Cart {
        guard (0...maxQuantity).contains(quantity) else {
            throw AppError.validation(field: "quantity", "Must be a whole number from 0 to \(maxQuantity).")
        }
        try await changingCart(of: customer) { sql in
            guard let line = try await store.claim(customer: customer, product: product, on: sql).first else { throw AppError.notFound }
            let held = line.held ? line.quantity : 0
            if quantity < held {
                try await inventory.release(product, held - quantity, on: sql)
            } else if quantity > held {
                try await reserveOrExplain(product, quantity - held, field: "quantity", already: held, on: sql)
            }
            if quantity > 0 { try await putHeld(line, customer: customer, product: product, quantity: quantity, on: sql) }
        }
        return try await store.cart(of: customer, prices: prices)
    }

    /// Removes one line (or, with no product, the whole cart), releasing what it held.
    func remove(_ product: UUID?, for customer: UUID) async throws {
        try await changingCart(of: customer) { sql in
            let lines = try await store.claim(customer: customer, product: product, on: sql)
            if product != nil, lines.isEmpty { throw AppError.notFound }
            try await release(lines, on: sql)
        }
    }

    /// One change to a customer's cart, in a transaction that first takes the customer's cart lock (so the
    /// customer's own requests queue up instead of deadlocking) and extends the cart's life, both before any
    /// product row is touched: cart lines are always locked before products.
    private func changingCart(of customer: UUID, _ body: (any SQLDatabase) async throws -> Void) async throws {
        try await store.database.transaction { sql in
            try await lock.lockCart(of: customer, on: sql)
            try await store.touch(customer: customer, until: expiry, maxHold: maxHold, on: sql)
            try await body(sql)
        }
    }

    /// Turns the cart into an order, exactly as a direct order is placed (in the same batches): held lines are taken
    /// from their reservation, released ones re-taken if stock allows. Any short line leaves the cart as it was.
    func checkout(for customer: UUID, storing answer: StoringAnswer?) async throws -> PlacedOrder {
        try await orders.checkout(checkout(of: customer), for: customer, storing: answer)
    }

    /// How the customer's cart becomes an order's lines inside the order's transaction: lock the cart, read its lines
    /// (an empty cart is `400`); once the order is placed, empty it.
    func checkout(of customer: UUID) -> CartCheckout {
        let (store, lock) = (store, lock)
        return CartCheckout(
            claim: { sql in
                try await lock.lockCart(of: customer, on: sql)
                let lines = try await store.lines(customer: customer, on: sql)
                guard !lines.isEmpty else { throw AppError.badRequest(code: "cart_empty", "The cart is empty.") }
                return lines.map {
                    OrderLine(
                        product: $0.product, quantity: $0.quantity, field: "items[\($0.product.uuidString.lowercased())]", reserved: $0.held
                    )
                }
            },
            settle: { sql in _ = try await store.claim(customer: customer, on: sql) })
    }

    /// Releases expired reservations, a batch per transaction, until none are left. Returns how many lines it released.
    @discardableResult
    func sweep(batch: Int = 500) async throws -> Int {
        var swept = 0
        while true {
            let count = try await store.database.transaction { sql in
                let lines = try await store.expire(before: clock.now, limit: batch, engine: store.database.engine, on: sql)
                try await release(lines, on: sql)
                return lines.count
            }
            swept += count
            if count < batch { return swept }
        }
    }

    /// Drops a product from every cart (it was archived), releasing what the lines held.
    func dropProduct(_ product: UUID, on sql: any SQLDatabase) async throws {
        try await release(try await store.claimAll(product: product, on: sql), on: sql)
    }

    /// Empties a customer's cart inside the caller's transaction (the account is being closed).
    func empty(for customer: UUID, on sql: any SQLDatabase) async throws {
        try await lock.lockCart(of: customer, on: sql)
        try await release(try await store.claim(customer: customer, on: sql), on: sql)
    }

    private var expiry: Date { clock.now + ttl.timeInterval }

    /// Puts a line back held: its reservation keeps the time it began if it was held (a new or re-reserved one begins
    /// now), and lasts `ttl` from now but never past `maxHold` from that beginning.
    private func putHeld(_ line: ClaimedLine?, customer: UUID, product: UUID, quantity: Int, on sql: any SQLDatabase) async throws {
        let now = clock.now
        let since = line.flatMap { $0.held ? $0.heldSince : nil } ?? now
        let until = min(expiry, since + maxHold.timeInterval)
        try await store.putHeld(customer: customer, product: product, quantity: quantity, until: until, since: since, on: sql)
    }

    /// Releases the held lines, one statement per product in ascending order.
    private func release(_ lines: [ClaimedLine], on sql: any SQLDatabase) async throws {
        var perProduct: [UUID: Int] = [:]
        for line in lines where line.held { perProduct[line.product, default: 0] += line.quantity }
        for (product, quantity) in perProduct.inLockOrder(by: \.key) {
            try await inventory.release(product, quantity, on: sql)
        }
    }

    private func reserveOrExplain(_ product: UUID, _ quantity: Int, field: String, already: Int, on sql: any SQLDatabase) async throws {
        guard try await !inventory.reserve(product, quantity, while: prices.orderable, on: sql) else { return }
        guard let available = try await inventory.available([product], while: prices.orderable, on: sql)[product] else {
            throw AppError.validation(field: "product", "Unknown or discontinued product.")
        }
        throw AppError.insufficientStock(
            "Only \(max(0, available) + already) of this product can be in your cart.",
            errors: [FieldProblem(field, "only \(max(0, available)) more available")]
        )
    }
}
