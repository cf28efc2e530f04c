import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Synchronization
import Testing

@testable import OpplyServer

/// Orders written in batches (`BatchedPlacement`, `OrderBatch`): each order gets the answer it would get alone.
@Suite struct OrderBatchTests {
    /// The same products, customers and carts in every shop, by name.
    struct Scene {
        var products: [String: UUID] = [:]
        var customers: [UUID] = []
        var names: [UUID: String] { Dictionary(uniqueKeysWithValues: products.map { ($1, $0) }) }
    }

    static func scene(_ client: some TestClientProtocol, _ shop: Shop) async throws -> Scene {
        let staff = try await shop.staffToken(client)
        var scene = Scene()
        for (name, quantity) in [("Apple", 5), ("Bean", 3), ("Corn", 100), ("Dill", 2)] {
            scene.products[name] = UUID(uuidString: try await client.createProduct(name, quantity: quantity, staff: staff))
        }
        let dill = try #require(scene.products["Dill"])
        #expect(try await client.send(.delete, "/api/catalog/products/\(dill)/", token: staff).status == .noContent)
        var tokens: [String] = []
        for index in 0..<6 {
            let (id, token) = try await client.signUp("batch\(index)")
            scene.customers.append(try #require(UUID(uuidString: id)))
            tokens.append(token)
        }
        for (token, name, quantity) in [(tokens[4], "Apple", 1), (tokens[4], "Corn", 2), (tokens[5], "Bean", 2)] {
            let product = try #require(scene.products[name])
            let reply = try await client.send(
                .post, "/api/cart/items/", json: ["product": "\(product)", "quantity": quantity], token: token)
            #expect(reply.status == .ok, "\(reply.text)")
        }
        return scene
    }

    /// The orders of one batch, in arrival order: lines in both product orders, short ones, an archived product,
    /// checkouts (one of an empty cart), answers stored, and one answer that breaks a constraint.
    /// The answers stored inside the orders' transactions, by order id.
    final class Answers: Sendable {
        let kept = Mutex<[String: Data]>([:])
    }

    static func requests(_ scene: Scene, _ shop: Shop, answers: Answers) -> [OrderRequest] {
        let product = { (name: String) in scene.products[name] ?? UUID() }
        let customer = scene.customers
        let lines = { (wanted: [(String, Int)]) -> OrderRequest.Wanted in
            .lines(wanted.enumerated().map { OrderLine(product: product($1.0), quantity: $1.1, field: "order_items[\($0)]") })
        }
        let keep: StoringAnswer = { json, _ in
            let id = (try JSONSerialization.jsonObject(with: json) as? [String: Any])?["id"] as? String ?? ""
            answers.kept.withLock { $0[id] = json }
        }
        let broken: StoringAnswer = { _, sql in  // a slug taken twice: a unique constraint breaks
            for name in ["Once", "Twice"] { try await sql.raw("INSERT INTO categories (slug, name) VALUES ('taken', \(bind: name))").run() }
        }
        return [
            OrderRequest(customer: customer[0], wanted: lines([("Apple", 2)]), answer: nil),
            OrderRequest(customer: customer[1], wanted: lines([("Apple", 1), ("Bean", 1)]), answer: keep),
            OrderRequest(customer: customer[2], wanted: lines([("Bean", 1), ("Apple", 1)]), answer: nil),
            OrderRequest(customer: customer[3], wanted: lines([("Apple", 3), ("Corn", 1)]), answer: keep),
            OrderRequest(customer: customer[0], wanted: lines([("Corn", 1), ("Dill", 1)]), answer: nil),
            OrderRequest(customer: customer[4], wanted: .cart(shop.cart.checkout(of: customer[4])), answer: keep),
            OrderRequest(customer: customer[3], wanted: lines([("Corn", 1)]), answer: broken),
            OrderRequest(customer: customer[1], wanted: lines([("Corn", 3)]), answer: keep),
            OrderRequest(customer: customer[2], wanted: lines([("Bean", 2)]), answer: nil),
            OrderRequest(customer: customer[0], wanted: .cart(shop.cart.checkout(of: customer[0])), answer: nil),
            OrderRequest(customer: customer[5], wanted: .cart(shop.cart.checkout(of: customer[5])), answer: nil),
            OrderRequest(customer: customer[2], wanted: lines([("Corn", 95), ("Bean", 1)]), answer: nil),
        ]
    }

    /// An outcome with product ids as names: what a customer is told.
    static func told(_ outcome: Result<PlacedOrder, any Error>, _ scene: Scene) -> String {
        var text: String
        switch outcome {
        case .success(let placed):
            text =
                "placed "
                + placed.order.items.map { "\($0.quantity) \(scene.names[$0.product] ?? "?") at \($0.priceMinor)" }
                .sorted().joined(separator: ", ") + ", total \(placed.order.totalMinor)"
        case .failure(let error as AppError):
            text =
                "\(error.status.code) \(error.code): \(error.detail ?? "") "
                + error.errors.map { "\($0.field) \($0.message)" }
                .sorted().joined(separator: "; ")
        case .failure(let error):
            text = "failed: \(type(of: error))"
        }
        for (name, id) in scene.products { text = text.replacingOccurrences(of: id.uuidString.lowercased(), with: name) }
        return text
    }

    /// What each product holds, on the shelf and in carts, by name; and how many orders and events were written.
    static func books(_ shop: Shop, _ scene: Scene) async throws -> [String] {
        var books: [String] = []
        for (name, id) in scene.products.sorted(by: { $0.key < $1.key }) {
            let level = try await shop.database.read { try await shop.inventory.level(of: id, on: $0) }
            books.append("\(name) \(level?.onHand ?? -1)/\(level?.reserved ?? -1)")
        }
        for table in ["orders", "order_items", "outbox", "cart_lines"] {
            let count = try await shop.database.read { try await $0.raw("SELECT count(*) AS n FROM \(unsafeRaw: table)").first() }
            books.append("\(table) \(try count?.decode(column: "n", as: Int.self) ?? -1)")
        }
        return books
    }

    @Test(arguments: TestStore.all)
    func aBatchTellsEachCustomerWhatOneAtATimeWould(store: TestStore) async throws {
        let alone = Mutex<(told: [String], books: [String])>(([], []))
        try await withShop(store, configure: { $0.orderBatchSize = 1 }) { client, shop in
            let scene = try await Self.scene(client, shop)
            var told: [String] = []
            for request in Self.requests(scene, shop, answers: Answers()) {
                do { told.append(Self.told(.success(try await shop.orders.placement.place(request)), scene)) } catch {
                    told.append(Self.told(.failure(error), scene))
                }
            }
            let books = try await Self.books(shop, scene)
            alone.withLock { $0 = (told, books) }
            try await shop.expectStockInvariants()
        }
        try await withShop(store) { client, shop in
            let scene = try await Self.scene(client, shop)
            let placement = try #require(shop.orders.placement as? BatchedPlacement)
            let batch = placement.batch
            let answers = Answers()
            let outcomes = await batch.write(Self.requests(scene, shop, answers: answers))
            let (told, books) = alone.withLock { $0 }
            #expect(outcomes.map { Self.told($0, scene) } == told)
            #expect(try await Self.books(shop, scene) == books)
            #expect(told.filter { $0.hasPrefix("placed") }.count == 5, "\(told)")
            #expect(told.contains { $0.hasPrefix("409 insufficient_stock") } && told.contains { $0.hasPrefix("400") })
            #expect(told.contains { $0.hasPrefix("failed") }, "the broken answer fails its order alone")
            // Every stored answer is the order that was placed.
            for case .success(let placed) in outcomes.enumerated().filter({ [1, 3, 5, 7].contains($0.offset) }).map(\.element) {
                #expect(answers.kept.withLock { $0[placed.order.id.uuidString.lowercased()] } == placed.json)
            }
            try await shop.expectStockInvariants()
        }
    }

    /// What the concurrent customers were answered.
    final class Tally: Sendable {
        let statuses = Mutex<[Int]>([])
        let placed = Mutex<[String: Set<String>]>([:])
    }

    @Test(arguments: TestStore.all)
    func concurrentOrdersForOneProductSellItExactlyWithKeysAnsweredOnce(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let hot = try await client.createProduct("Hot", quantity: 25, staff: staff)
            let other = try await client.createProduct("Other", quantity: 1_000, staff: staff)
            let tokens = try await client.signUp("rush", count: 20)
            let tally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, token) in tokens.enumerated() {
                    for attempt in 0..<3 {
                        group.addTask {
                            let key = "rush-\(index)-\(attempt % 2)"  // the third attempt repeats the first's key
                            let lines =
                                attempt == 1
                                ? [["product": other, "quantity": 1], ["product": hot, "quantity": 1]] : [["product": hot, "quantity": 1]]
                            let reply = try await client.send(
                                .post, "/api/orders/orders/", json: ["order_items": lines], token: token, headers: [.idempotencyKey: key])
                            tally.statuses.withLock { $0.append(reply.status.code) }
                            if reply.status == .created, let id = reply.json["id"] as? String {
                                tally.placed.withLock { $0[key, default: []].insert(id) }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let codes = tally.statuses.withLock { $0 }
            #expect(Set(codes).isSubset(of: [201, 409]), "\(codes.sorted())")
            #expect(tally.placed.withLock { $0.values.allSatisfy { $0.count == 1 } }, "a repeated key placed a second order")
            #expect(try await client.quantity(of: hot) == 0)
            let sold = try await shop.database.read { sql in
                try await sql.raw(
                    "SELECT CAST(coalesce(sum(quantity), 0) AS BIGINT) AS n FROM order_items WHERE product_id = \(bind: UUID(uuidString: hot))"
                )
                .first()?.decode(column: "n", as: Int.self)
            }
            #expect(sold == 25)
            try await shop.expectStockInvariants()
        }
    }

    @Test(.enabled(if: TestStore.postgresURL != nil))
    func twoInstancesBatchingBesideStaffAndCancelsKeepStockExact() async throws {
        try await withShop(.postgres) { client, shop in
            let other = try await Shop.open(shop.config, logger: shop.logger)
            try await buildApplication(shop: other).test(.router) { otherClient in
                let staff = try await shop.staffToken(client)
                let hot = try await client.createProduct("Twin hot", quantity: 40, staff: staff)
                let side = try await client.createProduct("Twin side", quantity: 1_000, staff: staff)
                let tokens = try await client.signUp("pair", count: 8)
                let statuses = try await concurrentStatuses(90) { index in
                    let via = index % 2 == 0 ? client as any TestClientProtocol : otherClient
                    switch index % 9 {
                    case 0:  // staff deliveries and write-offs of the hot product, through either instance
                        let delta = index % 2 == 0 ? 3 : -1
                        return try await via.send(
                            .post, "/api/catalog/products/\(hot)/inventory/", json: ["adjustment": delta, "reason": "count"], token: staff
                        ).status
                    case 1:  // an order placed and at once cancelled: its units go back
                        let placed = try await via.send(
                            .post, "/api/orders/orders/",
                            json: ["order_items": [["product": side, "quantity": 2], ["product": hot, "quantity": 1]]],
                            token: tokens[index % 8])
                        guard placed.status == .created, let id = placed.json["id"] as? String else { return placed.status }
                        return try await via.send(.post, "/api/orders/orders/\(id)/cancel/", token: tokens[index % 8]).status
                    default:
                        let lines = [["product": hot, "quantity": 1 + index % 2], ["product": side, "quantity": 1]]
                        return try await via.send(
                            .post, "/api/orders/orders/", json: ["order_items": index % 4 == 0 ? lines.reversed() : lines],
                            token: tokens[index % 8]
                        ).status
                    }
                }
                #expect(Set(statuses.map(\.code)).isSubset(of: [200, 201, 409]), "\(statuses)")
                // What is on the shelf is what came in less what confirmed orders took, to the unit.
                let books = try await shop.database.read { sql in
                    try await sql.raw(
                        """
                        SELECT p.on_hand AS on_hand, \
                        CAST((SELECT coalesce(sum(a.delta), 0) FROM inventory_adjustments a WHERE a.product_id = p.id) AS BIGINT) AS stocked, \
                        CAST((SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id \
                        WHERE i.product_id = p.id AND o.status <> 'cancelled') AS BIGINT) AS sold FROM products p WHERE p.id = \(bind: UUID(uuidString: hot))
                        """
                    ).first()
                }
                let row = try #require(books)
                let (onHand, stocked, sold) = (
                    try row.decode(column: "on_hand", as: Int.self), try row.decode(column: "stocked", as: Int.self),
                    try row.decode(column: "sold", as: Int.self)
                )
                #expect(onHand == stocked - sold)
                #expect(sold > 0)
                try await shop.expectStockInvariants()
            }
            await other.close()
        }
    }

    /// A placement that holds each order until the test lets it go, counting them.
    final class Gate: OrderPlacement {
        let inner: any OrderPlacement
        let placed = Atomic<Int>(0)
        private let opened = Mutex<[CheckedContinuation<Void, Never>]>([])

        init(_ inner: any OrderPlacement) { self.inner = inner }

        var held: Int { opened.withLock { $0.count } }
        func open() { for waiter in opened.withLock({ $0 }) { waiter.resume() } }

        func place(_ request: OrderRequest) async throws -> PlacedOrder {
            await withCheckedContinuation { waiter in opened.withLock { $0.append(waiter) } }
            placed.add(1, ordering: .relaxed)
            return try await inner.place(request)
        }
    }

    @Test(arguments: TestStore.all)
    func aLoneOrderIsWrittenAtOnceAloneAndAFullQueueAnswers503(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try #require(UUID(uuidString: try await client.createProduct("Queued", quantity: 10, staff: staff)))
            let (customer, _) = try await client.signUp("queued")
            let shopPlacement = try #require(shop.orders.placement as? BatchedPlacement)
            let gate = Gate(shopPlacement.batch.single)
            let placement = BatchedPlacement(
                steps: shopPlacement.batch.steps, single: gate, locksRows: shopPlacement.batch.locksRows, batchSize: 64, queueBound: 2,
                writers: 1)
            let order = { @Sendable in
                try await placement.place(
                    OrderRequest(
                        customer: UUID(uuidString: customer) ?? UUID(),
                        wanted: .lines([OrderLine(product: product, quantity: 1, field: "order_items[0]")]), answer: nil))
            }
            async let lone = order()  // nothing is being written: it goes at once, alone, to the single placement
            while gate.held == 0 { try await Task.sleep(for: .milliseconds(5)) }
            async let second = order()
            async let third = order()
            while placement.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
            do {
                _ = try await order()
                Issue.record("an order past the queue's bound was taken")
            } catch let error as AppError {
                #expect(error.status == .serviceUnavailable && error.code == "busy" && error.headers[.retryAfter] == "1")
            }
            gate.open()
            let placed = try await [lone, second, third]
            #expect(Set(placed.map(\.order.id)).count == 3)
            #expect(gate.placed.load(ordering: .relaxed) == 1, "the two that waited were written as one batch")
            #expect(try await client.quantity(of: product.uuidString.lowercased()) == 7)
            try await shop.expectStockInvariants()
        }
    }
}
