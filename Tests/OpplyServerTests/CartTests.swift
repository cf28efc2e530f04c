import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import OpplyServer

@Suite struct CartTests {
    func add(_ client: some TestClientProtocol, _ product: String, _ quantity: Int, token: String) async throws -> Reply {
        try await client.send(.post, "/api/cart/items/", json: ["product": product, "quantity": quantity], token: token)
    }

    /// Carts live 60 s of the test clock, and only the test sweeps (the background sweeper first wakes after an hour).
    static func sweptByTheTest(_ config: inout AppConfig) {
        config.cartTTL = .seconds(60)
        config.backgroundInterval = .seconds(3_600)
    }

    /// `count` new customers who each put `units` of `product` in their cart; their tokens.
    func fillCarts(_ client: some TestClientProtocol, _ prefix: String, count: Int, product: String, units: Int) async throws -> [String] {
        let tokens = try await client.signUp(prefix, count: count)
        for token in tokens { _ = try await add(client, product, units, token: token) }
        return tokens
    }

    @Test(arguments: TestStore.all)
    func addingReservesForEveryoneElseAtOnce(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Oat Milk", price: "2.40", quantity: 10, staff: staff)
            let (_, token) = try await client.signUp("yara")
            let cart = try await add(client, product, 3, token: token)
            #expect(cart.status == .ok)
            let items = try #require(cart.json["items"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(items.first?["quantity"] as? Int == 3)
            #expect(items.first?["line_total"] as? String == "7.20")
            #expect(cart.json["total"] as? String == "7.20")
            #expect(cart.json["currency"] as? String == "EUR")
            #expect(cart.json["expires_at"] is String)
            #expect(try await client.quantity(of: product) == 7)
            _ = try await add(client, product, 2, token: token)
            #expect(try await client.quantity(of: product) == 5)
            let view = try await client.send(.get, "/api/cart/", token: token)
            #expect((view.json["items"] as? [[String: Any]])?.first?["quantity"] as? Int == 5)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func tooManyIs409WithWhatIsAvailableAndTheLineUnchanged(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Rare Tea", quantity: 4, staff: staff)
            let (_, token) = try await client.signUp("zane")
            _ = try await add(client, product, 3, token: token)
            let tooMany = try await add(client, product, 2, token: token)
            #expect(tooMany.status == .conflict)
            #expect(tooMany.code == "insufficient_stock")
            #expect(tooMany.fields == ["quantity"])
            #expect(tooMany.text.contains("only 1 more available"))
            let view = try await client.send(.get, "/api/cart/", token: token)
            #expect((view.json["items"] as? [[String: Any]])?.first?["quantity"] as? Int == 3)
            #expect(try await client.quantity(of: product) == 1)
            #expect(try await add(client, UUID().uuidString, 1, token: token).status == .badRequest)
            #expect(try await add(client, product, 0, token: token).status == .badRequest)
            #expect(try await add(client, product, 1001, token: token).status == .badRequest)
            #expect(try await client.send(.post, "/api/cart/items/", json: ["product": product]).status == .unauthorized)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func settingAndRemovingLinesReleaseExactlyWhatTheyHeld(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let a = try await client.createProduct("A", quantity: 10, staff: staff)
            let b = try await client.createProduct("B", quantity: 10, staff: staff)
            let (_, token) = try await client.signUp("abby")
            _ = try await add(client, a, 2, token: token)
            _ = try await add(client, b, 5, token: token)
            #expect(try await client.send(.patch, "/api/cart/items/\(a)/", json: ["quantity": 6], token: token).status == .ok)
            #expect(try await client.quantity(of: a) == 4)
            #expect(try await client.send(.patch, "/api/cart/items/\(a)/", json: ["quantity": 1], token: token).status == .ok)
            #expect(try await client.quantity(of: a) == 9)
            let tooMany = try await client.send(.patch, "/api/cart/items/\(a)/", json: ["quantity": 11], token: token)
            #expect(tooMany.status == .conflict)
            #expect(try await client.quantity(of: a) == 9)
            #expect(try await client.send(.patch, "/api/cart/items/\(a)/", json: ["quantity": 0], token: token).status == .ok)
            #expect(try await client.quantity(of: a) == 10)
            #expect(try await client.send(.patch, "/api/cart/items/\(a)/", json: ["quantity": 1], token: token).status == .notFound)
            #expect(try await client.send(.patch, "/api/cart/items/\(b)/", json: ["quantity": -1], token: token).status == .badRequest)
            #expect(try await client.send(.delete, "/api/cart/items/\(b)/", token: token).status == .noContent)
            #expect(try await client.quantity(of: b) == 10)
            #expect(try await client.send(.delete, "/api/cart/items/\(b)/", token: token).status == .notFound)

            _ = try await add(client, a, 3, token: token)
            _ = try await add(client, b, 4, token: token)
            #expect(try await client.send(.delete, "/api/cart/", token: token).status == .noContent)
            #expect(try await client.quantity(of: a) == 10)
            #expect(try await client.quantity(of: b) == 10)
            let empty = try await client.send(.get, "/api/cart/", token: token)
            #expect((empty.json["items"] as? [Any])?.isEmpty == true)
            #expect(empty.json["expires_at"] is NSNull)
            #expect(empty.json["total"] as? String == "0.00")
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func expiredReservationsReturnToStockButTheLineStays(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock, configure: Self.sweptByTheTest) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Bagels", quantity: 10, staff: staff)
            let (_, token) = try await client.signUp("bella")
            _ = try await add(client, product, 4, token: token)
            #expect(try await shop.cart.sweep() == 0, "not expired yet")
            #expect(try await client.quantity(of: product) == 6)
            clock.advance(by: 61)
            #expect(try await shop.cart.sweep() == 1)
            #expect(try await shop.cart.sweep() == 0, "each line is released once")
            #expect(try await client.quantity(of: product) == 10)
            let view = try await client.send(.get, "/api/cart/", token: token)
            #expect((view.json["items"] as? [[String: Any]])?.first?["quantity"] as? Int == 4)
            try await shop.expectStockInvariants()

            // Adding again re-reserves the released line together with the new units.
            _ = try await add(client, product, 1, token: token)
            #expect(try await client.quantity(of: product) == 5)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func theBackgroundSweeperReleasesAbandonedCarts(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock, configure: { $0.cartTTL = .seconds(60) }) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Pretzels", quantity: 5, staff: staff)
            let (_, token) = try await client.signUp("carl")
            _ = try await add(client, product, 5, token: token)
            #expect(try await client.quantity(of: product) == 0)
            clock.advance(by: 61)
            var quantity = 0
            for _ in 0..<100 where quantity != 5 {
                try await Task.sleep(for: .milliseconds(100))
                quantity = try await client.quantity(of: product) ?? 0
            }
            #expect(quantity == 5)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func checkoutTurnsTheCartIntoAnOrder(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let a = try await client.createProduct("Pesto", price: "3.25", quantity: 10, staff: staff)
            let b = try await client.createProduct("Penne", price: "1.10", quantity: 10, staff: staff)
            let (customer, token) = try await client.signUp("dora")
            #expect(try await client.send(.post, "/api/cart/checkout/", token: token).status == .badRequest)
            _ = try await add(client, a, 2, token: token)
            _ = try await add(client, b, 3, token: token)
            _ = try await client.send(.patch, "/api/catalog/products/\(b)/", json: ["price": "1.20"], token: staff)
            let order = try await client.send(.post, "/api/cart/checkout/", token: token)
            #expect(order.status == .created, "\(order.text)")
            #expect(order.json["customer"] as? String == customer)
            #expect(order.json["status"] as? String == "confirmed")
            #expect(order.json["total"] as? String == "10.10")  // 2 × 3.25 + 3 × 1.20 at checkout time
            #expect(try await client.quantity(of: a) == 8)
            #expect(try await client.quantity(of: b) == 7)
            let cart = try await client.send(.get, "/api/cart/", token: token)
            #expect((cart.json["items"] as? [Any])?.isEmpty == true)
            #expect(try await client.send(.get, "/api/orders/orders/", token: token).json["count"] as? Int == 1)
            let topics = try await shop.database.read {
                try await $0.select().column("topic").from("outbox").all().map { try $0.decode(column: "topic", as: String.self) }
            }
            #expect(topics == ["order.confirmed"])
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func checkoutOfAPartlyExpiredCartReReservesAllOrNothing(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock, configure: Self.sweptByTheTest) { client, shop in
            let staff = try await shop.staffToken(client)
            let early = try await client.createProduct("Early", quantity: 5, staff: staff)
            let late = try await client.createProduct("Late", quantity: 5, staff: staff)
            let (_, token) = try await client.signUp("ella")
            let (_, rival) = try await client.signUp("fred")
            _ = try await add(client, early, 3, token: token)
            clock.advance(by: 61)
            #expect(try await shop.cart.sweep() == 1)
            _ = try await add(client, late, 2, token: token)  // touches the cart; `early` stays released

            // Someone buys the released units: checkout must fail whole and leave the cart as it was.
            let bought = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": early, "quantity": 4]]], token: rival)
            #expect(bought.status == .created)
            let short = try await client.send(.post, "/api/cart/checkout/", token: token)
            #expect(short.status == .conflict)
            #expect(short.fields == ["items[\(early)].quantity"])
            #expect(try await client.quantity(of: late) == 3, "the held line is still held")
            #expect((try await client.send(.get, "/api/cart/", token: token).json["items"] as? [Any])?.count == 2)

            _ = try await client.send(
                .post, "/api/catalog/products/\(early)/inventory/", json: ["adjustment": 10, "reason": "delivery"], token: staff)
            let order = try await client.send(.post, "/api/cart/checkout/", token: token)
            #expect(order.status == .created)
            #expect(try await client.quantity(of: early) == 8)
            #expect(try await client.quantity(of: late) == 3)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func checkoutHonoursIdempotencyKeys(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Muesli", quantity: 10, staff: staff)
            let (_, token) = try await client.signUp("gus")
            _ = try await add(client, product, 2, token: token)
            let key: HTTPFields = [.idempotencyKey: "checkout-1"]
            let first = try await client.send(.post, "/api/cart/checkout/", token: token, headers: key)
            #expect(first.status == .created)
            _ = try await add(client, product, 1, token: token)
            let retry = try await client.send(.post, "/api/cart/checkout/", token: token, headers: key)
            #expect(retry.status == .created)
            #expect(retry.headers[.idempotentReplayed] == "true")
            #expect(retry.json["id"] as? String == first.json["id"] as? String)
            #expect(try await client.send(.get, "/api/orders/orders/", token: token).json["count"] as? Int == 1)
            #expect(try await client.quantity(of: product) == 7, "the new line is still reserved, not sold")
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func fortyConcurrentAddsOfOneOnTenSucceedTenTimes(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Last ten", quantity: 10, staff: staff)
            let tokens = try await client.signUp("adder", count: 8)
            let statuses = try await concurrentStatuses(40) { [tokens] index in
                try await client.send(
                    .post, "/api/cart/items/", json: ["product": product, "quantity": 1], token: tokens[index % tokens.count]
                ).status
            }
            #expect(statuses.filter { $0 == .ok }.count == 10)
            #expect(statuses.filter { $0 == .conflict }.count == 30, "\(statuses)")
            #expect(try await client.quantity(of: product) == 0)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func sweepersRacingCheckoutsAccountForEveryUnit(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock, configure: Self.sweptByTheTest) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Contended", quantity: 200, staff: staff)
            let tokens = try await fillCarts(client, "racer", count: 12, product: product, units: 5)
            clock.advance(by: 61)
            // A second instance on the same database: its own Shop, its own sweeper.
            let other = try await Shop.open(shop.config, logger: shop.logger, clock: clock.clock)
            let results = try await withThrowingTaskGroup(of: HTTPResponse.Status?.self) { [tokens] group in
                group.addTask {
                    _ = try await shop.cart.sweep(batch: 2)
                    return nil
                }
                group.addTask {
                    _ = try await other.cart.sweep(batch: 3)
                    return nil
                }
                for token in tokens { group.addTask { try await client.send(.post, "/api/cart/checkout/", token: token).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { if let status = $1 { $0.append(status) } }
            }
            await other.close()
            #expect(results.allSatisfy { $0 == .created }, "\(results)")
            #expect(try await client.quantity(of: product) == 200 - 12 * 5)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func addsRacingTheSweeperKeepTheBooks(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock, configure: Self.sweptByTheTest) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Swept", quantity: 100, staff: staff)
            let tokens = try await fillCarts(client, "sweepee", count: 10, product: product, units: 3)
            clock.advance(by: 61)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status?.self) { [tokens] group in
                group.addTask {
                    _ = try await shop.cart.sweep(batch: 1)
                    return nil
                }
                for token in tokens {
                    group.addTask {
                        try await client.send(.post, "/api/cart/items/", json: ["product": product, "quantity": 1], token: token).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { if let status = $1 { $0.append(status) } }
            }
            #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses)")
            #expect(try await client.quantity(of: product) == 100 - 10 * 4, "every line holds its 4 units again")
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func oneCustomersParallelAddsQueueInsteadOfDeadlocking(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let products = try await client.createProducts("Tap", count: 5, quantity: 50, staff: staff)
            let (_, token) = try await client.signUp("double-tapper")
            let statuses = try await concurrentStatuses(20) { [products] index in
                try await client.send(
                    .post, "/api/cart/items/", json: ["product": products[index % products.count], "quantity": 1], token: token
                ).status
            }
            #expect(statuses.allSatisfy { $0 == .ok })
            for product in products { #expect(try await client.quantity(of: product) == 46) }
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func mixedTrafficKeepsTheInvariants(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let products = try await client.createProducts("Mixed", count: 4, quantity: 12, staff: staff)
            let tokens = try await client.signUp("mixer", count: 16)
            try await withThrowingTaskGroup(of: Void.self) { [products, tokens] group in
                for (index, token) in tokens.enumerated() {
                    group.addTask {
                        var generator = SystemRandomNumberGenerator()
                        for step in 0..<4 {
                            let product = products.randomElement(using: &generator) ?? products[0]
                            switch (index + step) % 4 {
                            case 0:
                                _ = try await client.send(
                                    .post, "/api/cart/items/",
                                    json: ["product": product, "quantity": Int.random(in: 1...3, using: &generator)], token: token)
                            case 1:
                                _ = try await client.send(.post, "/api/cart/checkout/", token: token)
                            case 2:
                                let order = try await client.send(
                                    .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 2]]], token: token
                                )
                                if let id = order.json["id"] as? String, Bool.random(using: &generator) {
                                    _ = try await client.send(.post, "/api/orders/orders/\(id)/cancel/", token: token)
                                }
                            default:
                                _ = try await client.send(.patch, "/api/cart/items/\(product)/", json: ["quantity": 1], token: token)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func archivingAProductOrClosingAnAccountReleasesCarts(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let archived = try await client.createProduct("Discontinued", quantity: 10, staff: staff)
            let kept = try await client.createProduct("Kept", quantity: 10, staff: staff)
            let (id, token) = try await client.signUp("hugo")
            _ = try await add(client, archived, 3, token: token)
            _ = try await add(client, kept, 4, token: token)
            #expect(try await client.send(.delete, "/api/catalog/products/\(archived)/", token: staff).status == .noContent)
            let cart = try await client.send(.get, "/api/cart/", token: token)
            #expect((cart.json["items"] as? [[String: Any]])?.map { $0["product"] as? String } == [kept])
            try await shop.expectStockInvariants()
            #expect(try await client.send(.delete, "/api/identity/customers/\(id)/", token: token).status == .noContent)
            #expect(try await client.quantity(of: kept) == 10)
            try await shop.expectStockInvariants()
        }
    }
}

extension CartTests {
    /// Touching a cart keeps its reservations alive for `CART_TTL` more, but never past `CART_MAX_HOLD` after a line
    /// was added: a cart kept busy cannot hold stock for ever.
    @Test(arguments: TestStore.all)
    func aReservationEndsAtTheMaximumHoldHoweverOftenTheCartIsTouched(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(
            store, clock: clock,
            configure: {
                Self.sweptByTheTest(&$0)
                $0.cartMaxHold = .seconds(300)
            }
        ) { client, shop in
            let staff = try await shop.staffToken(client)
            let kept = try await client.createProduct("Kept busy", quantity: 5, staff: staff)
            let other = try await client.createProduct("Touch", quantity: 50, staff: staff)
            let (_, token) = try await client.signUp("busy")
            #expect(try await add(client, kept, 2, token: token).status == .ok)
            for _ in 0..<6 {
                clock.advance(by: 45)  // within the 60 s lifetime each time; 270 s in all
                #expect(try await add(client, other, 1, token: token).status == .ok)
                #expect(try await shop.cart.sweep() == 0)
            }
            #expect(try await client.quantity(of: kept) == 3, "still held at 270 s")
            clock.advance(by: 31)  // 301 s after the line was added, 31 s after the last touch
            #expect(try await shop.cart.sweep() == 1, "the first line's reservation ended at the maximum hold")
            #expect(try await client.quantity(of: kept) == 5)
            #expect(try await client.quantity(of: other) == 44, "the newer line is still held")
            try await shop.expectStockInvariants()
        }
    }
}
