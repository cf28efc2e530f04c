import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import OpplyServer

@Suite struct OrdersTests {
    @Test(arguments: TestStore.all)
    func placingAnOrderTakesStockAtCatalogPrices(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let coffee = try await client.createProduct("Coffee", price: "19.99", quantity: 10, staff: staff)
            let tea = try await client.createProduct("Tea", price: "0.10", quantity: 5, staff: staff)
            let (customerID, token) = try await client.signUp("olga")
            let placed = try await client.send(
                .post, "/api/orders/orders/",
                json: [
                    "order_items": [
                        ["product": coffee, "quantity": 3, "price": "0.01"],
                        ["product": tea.uppercased(), "quantity": 1],
                        ["product": coffee, "quantity": 4],
                        ["product": tea, "quantity": 2],
                    ],
                    "total": "0.00",
                ], token: token)
            #expect(placed.status == .created, "\(placed.text)")
            #expect(placed.json["status"] as? String == "confirmed")
            #expect(placed.json["customer"] as? String == customerID)
            #expect(placed.json["total"] as? String == "140.23")  // 7 × 19.99 + 3 × 0.10
            #expect(placed.json["currency"] as? String == "EUR")
            let items = try #require(placed.json["order_items"] as? [[String: Any]])
            #expect(items.count == 2)
            let coffeeLine = try #require(items.first { $0["product"] as? String == coffee })
            #expect(coffeeLine["quantity"] as? Int == 7)
            #expect(coffeeLine["price"] as? String == "19.99")
            #expect(coffeeLine["line_total"] as? String == "139.93")
            #expect(coffeeLine["name"] as? String == "Coffee")
            #expect(try await client.quantity(of: coffee) == 3)
            #expect(try await client.quantity(of: tea) == 2)

            let id = try #require(placed.json["id"] as? String)
            let detail = try await client.send(.get, "/api/orders/orders/\(id)/", token: token)
            #expect(detail.json["total"] as? String == "140.23")
            let events = try await shop.database.read {
                try await $0.select().column("topic").from("outbox").all().map { try $0.decode(column: "topic", as: String.self) }
            }
            #expect(events == ["order.confirmed"])

            // The server remembers what it priced orders at; a product renamed, repriced or archived since is priced
            // afresh, alone (one statement on PostgreSQL) or beside another line.
            let changed = try await client.send(
                .patch, "/api/catalog/products/\(coffee)/", json: ["name": "Coffee Beans", "price": "21.50"], token: staff)
            #expect(changed.status == .ok, "\(changed.text)")
            let alone = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": coffee, "quantity": 1]]], token: token)
            #expect(alone.status == .created, "\(alone.text)")
            #expect(alone.json["total"] as? String == "21.50")
            #expect((alone.json["order_items"] as? [[String: Any]])?.first?["name"] as? String == "Coffee Beans")
            _ = try await client.send(.patch, "/api/catalog/products/\(tea)/", json: ["price": "0.20"], token: staff)
            let beside = try await client.send(
                .post, "/api/orders/orders/",
                json: ["order_items": [["product": coffee, "quantity": 1], ["product": tea, "quantity": 1]]],
                token: token)
            #expect(beside.status == .created, "\(beside.text)")
            #expect(beside.json["total"] as? String == "21.70")
            _ = try await client.send(.delete, "/api/catalog/products/\(tea)/", token: staff)
            let archived = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": tea, "quantity": 1]]], token: token)
            #expect(archived.status == .badRequest, "\(archived.text)")
            #expect(archived.fields.contains("order_items[0].product"))
            #expect(try await client.quantity(of: coffee) == 1)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func badOrdersAre400NamingTheLineAndChangeNothing(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let live = try await client.createProduct("Live", quantity: 10, staff: staff)
            let archived = try await client.createProduct("Gone", quantity: 10, staff: staff)
            _ = try await client.send(.delete, "/api/catalog/products/\(archived)/", token: staff)
            let (_, token) = try await client.signUp("pete")
            let cases: [(Any, String)] = [
                (["order_items": []], "order_items"),
                (["order_items": Array(repeating: ["product": live, "quantity": 1], count: 101)], "order_items"),
                (["order_items": [["product": live, "quantity": 0]]], "order_items[0].quantity"),
                (["order_items": [["product": live, "quantity": 1], ["product": live, "quantity": 1001]]], "order_items[1].quantity"),
                (["order_items": [["product": live, "quantity": 600], ["product": live, "quantity": 600]]], "order_items[0].quantity"),
                (
                    ["order_items": [["product": live, "quantity": 1], ["product": UUID().uuidString, "quantity": 1]]],
                    "order_items[1].product"
                ),
                (["order_items": [["product": archived, "quantity": 1]]], "order_items[0].product"),
                (["order_items": [["product": "not-a-uuid", "quantity": 1]]], "order_items[0].product"),
                (["order_items": [["product": live, "quantity": "1"]]], "order_items[0].quantity"),
                (["order_items": [["product": live, "quantity": 1.5]]], "order_items[0].quantity"),
                (["order_items": [["product": live]]], "order_items[0].quantity"),
                (["items": []], "order_items"),
            ]
            for (body, field) in cases {
                let reply = try await client.send(.post, "/api/orders/orders/", json: body, token: token)
                #expect(reply.status == .badRequest, "\(field): \(reply.text)")
                #expect(reply.fields.contains(field), "\(field): \(reply.text)")
            }
            #expect(try await client.quantity(of: live) == 10)
            #expect(try await client.send(.get, "/api/orders/orders/", token: token).json["count"] as? Int == 0)
            #expect(try await client.send(.post, "/api/orders/orders/", json: ["order_items": []]).status == .unauthorized)
        }
    }

    @Test(arguments: TestStore.all)
    func aShortLineRejectsTheWholeOrderNamingEachShortLine(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let plenty = try await client.createProduct("Plenty", quantity: 100, staff: staff)
            let few = try await client.createProduct("Few", quantity: 2, staff: staff)
            let none = try await client.createProduct("None", quantity: 0, staff: staff)
            let (_, token) = try await client.signUp("quinn")
            let reply = try await client.send(
                .post, "/api/orders/orders/",
                json: [
                    "order_items": [
                        ["product": plenty, "quantity": 5], ["product": few, "quantity": 3], ["product": none, "quantity": 1],
                    ]
                ], token: token)
            #expect(reply.status == .conflict)
            #expect(reply.code == "insufficient_stock")
            #expect(reply.json["detail"] as? String == "2 of 3 requested items are not available")
            let errors = try #require(reply.json["errors"] as? [[String: String]])
            #expect(Set(errors.map { $0["field"] ?? "" }) == ["order_items[1].quantity", "order_items[2].quantity"])
            #expect(errors.contains { $0["field"] == "order_items[1].quantity" && $0["message"] == "only 2 available" })
            #expect(try await client.quantity(of: plenty) == 100)
            #expect(try await client.quantity(of: few) == 2)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func historyIsNewestFirstAndPrivate(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Water", price: "1.00", quantity: 100, staff: staff)
            let (_, rita) = try await client.signUp("rita")
            let (_, sam) = try await client.signUp("sam")
            var ids: [String] = []
            for quantity in 1...3 {
                let reply = try await client.send(
                    .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": quantity]]], token: rita)
                ids.append(reply.json["id"] as? String ?? "")
            }
            let samsOrder = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: sam)
            let history = try await client.send(.get, "/api/orders/orders/?limit=2", token: rita)
            #expect(history.json["count"] as? Int == 3)
            let listed = history.list.compactMap { $0["id"] as? String }
            #expect(listed.count == 2)
            let all = try await client.send(.get, "/api/orders/orders/", token: rita).list
            let dates = all.compactMap { $0["created_at"] as? String }
            #expect(dates == dates.sorted(by: >))
            #expect(Set(all.compactMap { $0["id"] as? String }) == Set(ids))
            #expect((history.json["next"] as? String)?.hasSuffix("/api/orders/orders/?limit=2&offset=2") == true)

            let samsID = try #require(samsOrder.json["id"] as? String)
            #expect(try await client.send(.get, "/api/orders/orders/\(samsID)/", token: rita).status == .notFound)
            #expect(try await client.send(.post, "/api/orders/orders/\(samsID)/cancel/", token: rita).status == .notFound)
            #expect(
                try await client.send(.get, "/api/orders/orders/\(samsID)/", token: staff).status == .notFound,
                "staff see only their own orders here")
            #expect(try await client.send(.get, "/api/orders/orders/", token: staff).json["count"] as? Int == 0)
        }
    }

    @Test(arguments: TestStore.all)
    func cancellingReturnsStockOnce(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Juice", quantity: 10, staff: staff)
            let (_, token) = try await client.signUp("tina")
            let placed = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 4]]], token: token)
            let id = try #require(placed.json["id"] as? String)
            #expect(try await client.quantity(of: product) == 6)

            let statuses = try await concurrentStatuses(10) { _ in
                try await client.send(.post, "/api/orders/orders/\(id)/cancel/", token: token).status
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 9)
            #expect(try await client.quantity(of: product) == 10)
            let detail = try await client.send(.get, "/api/orders/orders/\(id)/", token: token)
            #expect(detail.json["status"] as? String == "cancelled")

            let second = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token)
            let secondID = try #require(second.json["id"] as? String)
            try await shop.database.transaction { sql in
                try await sql.update("orders").set("status", to: "fulfilled").where("id", .equal, UUID(uuidString: secondID)).run()
            }
            let fulfilled = try await client.send(.post, "/api/orders/orders/\(secondID)/cancel/", token: token)
            #expect(fulfilled.status == .conflict)
            #expect(fulfilled.code == "order_not_cancellable")
            #expect(try await client.quantity(of: product) == 9)
            let topics = try await shop.database.read {
                try await $0.select().column("topic").from("outbox").orderBy("seq").all().map {
                    try $0.decode(column: "topic", as: String.self)
                }
            }
            #expect(topics == ["order.confirmed", "order.cancelled", "order.confirmed"])
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func fiftyConcurrentOrdersForTenUnitsSellExactlyTen(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let tokens = try await client.signUp("buyer", count: 10)
            for round in 1...3 {
                let product = try await client.createProduct("Last ten, round \(round)", quantity: 10, staff: staff)
                let statuses = try await concurrentStatuses(50) { [tokens] index in
                    try await client.send(
                        .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]],
                        token: tokens[index % tokens.count]
                    ).status
                }
                #expect(statuses.filter { $0 == .created }.count == 10, "round \(round)")
                #expect(statuses.filter { $0 == .conflict }.count == 40, "round \(round): \(statuses)")
                #expect(try await client.send(.get, "/api/catalog/products/\(product)/").json["quantity"] as? Int == 0)
                try await shop.expectStockInvariants()
            }
            // The 120 refused orders left nothing behind: no order, line or event (on PostgreSQL a one-line order is
            // one statement without a transaction around it, which writes its rows only when it took the stock).
            let written = try await shop.database.read { sql in
                try await sql.raw(
                    """
                    SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_items) AS items,
                        (SELECT count(*) FROM outbox WHERE topic = 'order.confirmed') AS events
                    """
                ).first().map { row in try ["orders", "items", "events"].map { try row.decode(column: $0, as: Int.self) } }
            }
            #expect(written == [30, 30, 30])
        }
    }

    @Test(arguments: TestStore.all)
    func overlappingBasketsNeverDeadlockOrOversell(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let products = try await client.createProducts("Shared", count: 5, quantity: 15, staff: staff)
            let tokens = try await client.signUp("basket", count: 20)
            let placed = try await withThrowingTaskGroup(of: [String: Int]?.self) { [products, tokens] group in
                for index in 0..<20 {
                    group.addTask {
                        var generator = SystemRandomNumberGenerator()
                        let basket = products.shuffled(using: &generator).prefix(3).map { ($0, Int.random(in: 1...3, using: &generator)) }
                        let reply = try await client.send(
                            .post, "/api/orders/orders/", json: ["order_items": basket.map { ["product": $0.0, "quantity": $0.1] }],
                            token: tokens[index])
                        #expect(reply.status == .created || reply.status == .conflict, "\(reply.text)")
                        return reply.status == .created ? Dictionary(uniqueKeysWithValues: basket) : nil
                    }
                }
                return try await group.reduce(into: [[String: Int]]()) { if let basket = $1 { $0.append(basket) } }
            }
            for product in products {
                let sold = placed.reduce(0) { $0 + ($1[product] ?? 0) }
                #expect(try await client.quantity(of: product) == 15 - sold)
            }
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func idempotencyKeyReplaysTheFirstAnswer(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Soda", quantity: 10, staff: staff)
            let (_, token) = try await client.signUp("uma")
            let (_, other) = try await client.signUp("victor")
            let body: [String: Any] = ["order_items": [["product": product, "quantity": 2]]]
            let key: HTTPFields = [.idempotencyKey: "order-123"]

            let first = try await client.send(.post, "/api/orders/orders/", json: body, token: token, headers: key)
            #expect(first.status == .created)
            #expect(first.headers[.idempotentReplayed] == nil)
            let retry = try await client.send(
                .post, "/api/orders/orders/", raw: "{ \"order_items\" : [ {\"quantity\": 2, \"product\": \"\(product)\"} ] }", token: token,
                headers: key)
            #expect(retry.status == .created)
            #expect(retry.headers[.idempotentReplayed] == "true")
            #expect(retry.json["id"] as? String == first.json["id"] as? String)
            #expect(try await client.quantity(of: product) == 8)

            let changed = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 3]]], token: token, headers: key)
            #expect(changed.status == .unprocessableContent)
            #expect(changed.code == "idempotency_key_reused")
            // Keys belong to one customer: the same key from someone else is a new request.
            #expect(try await client.send(.post, "/api/orders/orders/", json: body, token: other, headers: key).status == .created)
            #expect(try await client.quantity(of: product) == 6)

            let short = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 50]]], token: token,
                headers: [.idempotencyKey: "too-many"])
            #expect(short.status == .conflict)
            let shortAgain = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 50]]], token: token,
                headers: [.idempotencyKey: "too-many"])
            #expect(shortAgain.status == .conflict)
            #expect(shortAgain.headers[.idempotentReplayed] == "true")
            #expect(
                try await client.send(
                    .post, "/api/orders/orders/", json: body, token: token, headers: [.idempotencyKey: String(repeating: "k", count: 256)]
                ).status == .badRequest)
            #expect(
                try await client.send(.post, "/api/orders/orders/", json: body, token: token, headers: [.idempotencyKey: ""]).status
                    == .badRequest)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func aKeyInProgressIs409UntilItGoesStale(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Crisps", quantity: 10, staff: staff)
            let (id, token) = try await client.signUp("wendy")
            let body: [String: Any] = ["order_items": [["product": product, "quantity": 1]]]
            let data = try JSONSerialization.data(withJSONObject: body)
            // A request that claimed the key and then died before finishing.
            let claim = try await shop.idempotency.begin(
                customer: try #require(UUID(uuidString: id)), key: "crashed",
                fingerprint: IdempotentResponder.fingerprint(method: "POST", path: "/api/orders/orders/", body: data))
            guard case .claimed = claim else {
                Issue.record("expected a claim")
                return
            }
            let busy = try await client.send(.post, "/api/orders/orders/", json: body, token: token, headers: [.idempotencyKey: "crashed"])
            #expect(busy.status == .conflict)
            #expect(busy.code == "idempotency_key_in_use")
            clock.advance(by: 61)
            let retried = try await client.send(
                .post, "/api/orders/orders/", json: body, token: token, headers: [.idempotencyKey: "crashed"])
            #expect(retried.status == .created)
            #expect(try await client.quantity(of: product) == 9)
        }
    }

    @Test(arguments: TestStore.all)
    func aClaimTakenOverCannotBeCompletedByTheRequestThatLostIt(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock) { client, shop in
            let (id, _) = try await client.signUp("yves")
            let customer = try #require(UUID(uuidString: id))
            let keys = shop.idempotency
            guard case .claimed(let slow) = try await keys.begin(customer: customer, key: "k", fingerprint: "f") else {
                Issue.record("expected a claim")
                return
            }
            clock.advance(by: 61)
            let takeovers = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        do {
                            if case .claimed = try await keys.begin(customer: customer, key: "k", fingerprint: "f") { return true }
                            return false
                        } catch let error as AppError where error.code == "idempotency_key_in_use" {
                            return false
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(takeovers == 1, "exactly one request takes a stale claim over")
            await #expect(throws: AppError.self) { try await keys.complete(slow, status: 201, body: "{}") }
        }
    }

    @Test(arguments: TestStore.all)
    func tenConcurrentRetriesWithOneKeyCreateOneOrder(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Granola", quantity: 100, staff: staff)
            let (_, token) = try await client.signUp("xena")
            let statuses = try await concurrentStatuses(10) { _ in
                try await client.send(
                    .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 5]]],
                    token: token, headers: [.idempotencyKey: "same-key"]
                ).status
            }
            #expect(statuses.allSatisfy { $0 == .created || $0 == .conflict })
            #expect(statuses.contains(.created))
            #expect(try await client.send(.get, "/api/orders/orders/", token: token).json["count"] as? Int == 1)
            #expect(try await client.quantity(of: product) == 95)
            try await shop.expectStockInvariants()
        }
    }
}

@Test func timeOrderedIDsAreVersion7AndSortByTheirMillisecond() {
    let start = Date(timeIntervalSince1970: 1_796_000_000)
    let ids = (0..<100).map { UUID.timeOrdered(at: start + Double($0) * 0.002) }  // one per 2 ms
    #expect(Set(ids).count == 100)
    #expect(ids.allSatisfy { $0.uuid.6 >> 4 == 7 && $0.uuid.8 >> 6 == 0b10 })
    #expect(ids.map(\.uuidString) == ids.map(\.uuidString).sorted())
    #expect(ids[0].uuidString.lowercased().hasPrefix(String(format: "%08x", UInt32(1_796_000_000_000 >> 16))))
}
