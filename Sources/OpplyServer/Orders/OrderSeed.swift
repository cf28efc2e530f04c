import Foundation

/// Demo order history: orders from a few hundred demo customers spread over the last 90 days, so the order desk
/// can be tried and measured at size. Each batch is one transaction that takes its stock through `Inventory`, so
/// `opply check` holds afterwards.
///
/// Built to seed a million orders in minutes: a batch of 5,000 is one take and two inserts (the orders and their
/// lines, each column bound as one array); each batch fills its own slice of the 90 days, oldest first, so its rows
/// go at the end of the orders' indexes, on pages already in memory, not onto pages all over them; and orders sell
/// from a shelf of a few hundred products at a time, so a product's stock is taken in a few batches, not a little in
/// every one (each take writes a new version of the product's row, and often an entry in each of its indexes).
extension Shop {
    /// Adds `count` orders in batches of `batchSize`, `progress` hearing how many are in after each batch; creates the
    /// `customers` demo customers (`demo-customer-001`…, unusable random password) that are missing. Throws when the
    /// catalog has too little stock left for them.
    public func seedOrders(_ count: Int, customers: Int = 300, batchSize: Int = 5_000, progress: (Int) -> Void = { _ in }) async throws {
        let buyers = try await demoCustomers(customers)
        // About 5 units an order, 250 a product: a sample of `count / 20` holds two and a half times what is needed.
        var pool = try await catalog.store.sample(limit: max(20_000, count / 20))
        var generator = SystemRandomNumberGenerator()
        let now = clock.now
        let (first, span) = (now - 90 * 86_400, 90.0 * 86_400 - 60)  // from 90 days to a minute ago
        var made = 0
        while made < count {
            var batch: [Order] = []
            var taken: [UUID: Int] = [:]
            let size = min(batchSize, count - made)
            let from = first + span * Double(made) / Double(count)
            let width = span * Double(size) / Double(count)
            for placed in (0..<size).map({ _ in from + Double.random(in: 0..<width, using: &generator) }).sorted() {
                guard let order = Self.demoOrder(from: &pool, buyers: buyers, placed: placed, before: now, using: &generator) else {
                    throw AppError.conflict(code: "insufficient_stock", "The catalog ran out of stock after \(made + batch.count) orders.")
                }
                if order.status != .cancelled {
                    for item in order.items { taken[item.product, default: 0] += item.quantity }
                }
                batch.append(order)
            }
            try await database.transaction { [taken, batch] sql in
                try await inventory.take(taken, while: CatalogStore.live, on: sql)
                try await orders.store.insert(history: batch, on: sql)
            }
            made += batch.count
            progress(made)
        }
        catalog.cache.invalidate()
    }

    /// The ids of `count` demo customers, created where missing.
    private func demoCustomers(_ count: Int) async throws -> [UUID] {
        var ids: [UUID] = []
        var missing: [Customer] = []
        for number in 1...max(1, count) {
            let username = String(format: "demo-customer-%03d", number)
            if let customer = try await identity.store.find(usernameKey: username) {
                ids.append(customer.id)
            } else {
                let customer = Customer(
                    id: UUID(), username: username, email: "\(username)@example.com", firstName: "Demo", lastName: "Customer \(number)",
                    isStaff: false, dateJoined: clock.now)
                missing.append(customer)
                ids.append(customer.id)
            }
        }
        guard !missing.isEmpty else { return ids }
        // One hash for all: nobody signs in as a demo customer, and bcrypt at cost 12 takes a quarter second each.
        let hash = try await identity.passwords.hash(randomToken(bytes: 16))
        try await database.transaction { [missing] sql in
            for customer in missing { try await identity.store.insert(customer, passwordHash: hash, on: sql) }
        }
        return ids
    }

    /// Products on sale at a time: the first `shelf` of the pool, one sold out giving its place to the pool's last.
    private static let shelf = 300

    /// One order of 1 to 4 lines from the shelf of `pool` (whose units it counts down), placed at `placed`: older
    /// orders mostly fulfilled, recent ones mostly awaiting fulfilment, a few cancelled.
    private static func demoOrder(
        from pool: inout [(id: UUID, name: String, priceMinor: Int, available: Int)], buyers: [UUID], placed: Date, before now: Date,
        using generator: inout SystemRandomNumberGenerator
    ) -> Order? {
        let age = now.timeIntervalSince(placed)
        let roll = Double.random(in: 0..<1, using: &generator)
        let status: Order.Status =
            roll < 0.06
            ? .cancelled : (age > 3 * 86_400 ? (roll < 0.95 ? .fulfilled : .confirmed) : (roll < 0.45 ? .fulfilled : .confirmed))
        var items: [Order.Item] = []
        let lines = Int.random(in: 1...4, using: &generator)
        // A pick of a product already in the order, or with too few units left (then dropped from the pool), is tried again.
        for _ in 0..<(lines * 8) where items.count < lines {
            guard !pool.isEmpty else { break }
            let index = Int.random(in: 0..<min(shelf, pool.count), using: &generator)
            let quantity = Int.random(in: 1...3, using: &generator)
            guard !items.contains(where: { $0.product == pool[index].id }) else { continue }
            guard pool[index].available >= quantity else {
                pool.swapAt(index, pool.count - 1)
                pool.removeLast()
                continue
            }
            if status != .cancelled { pool[index].available -= quantity }
            items.append(
                Order.Item(product: pool[index].id, name: pool[index].name, quantity: quantity, priceMinor: pool[index].priceMinor))
        }
        guard !items.isEmpty, let customer = buyers.randomElement(using: &generator) else { return nil }
        let changed = status == .confirmed ? placed : min(now, placed + Double.random(in: 600...172_800, using: &generator))
        return Order(
            id: UUID.timeOrdered(at: placed), customer: customer, status: status,
            items: items.sorted { $0.product < $1.product },
            totalMinor: items.totalMinor, createdAt: placed, updatedAt: changed, fulfilledAt: status == .fulfilled ? changed : nil,
            fulfilmentNote: status == .fulfilled && roll < 0.2 ? "Delivered by our van" : nil,
            cancelReason: status == .cancelled ? "Customer asked to cancel" : nil)
    }
}
