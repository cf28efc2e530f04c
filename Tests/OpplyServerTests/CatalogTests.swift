import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Synchronization
import Testing

@testable import OpplyServer

@Suite struct CatalogTests {
    @Test(arguments: TestStore.all)
    func staffCreateAndAnyoneReads(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let created = try await client.send(
                .post, "/api/catalog/products/",
                json: [
                    "name": "Oat Milk 1 l", "description": "Barista edition", "price": "2.5", "quantity": 40, "category": "plant-milks",
                ], token: staff)
            #expect(created.status == .created)
            #expect(created.json["price"] as? String == "2.50")
            #expect(created.json["currency"] as? String == "EUR")
            #expect(created.json["quantity"] as? Int == 40)
            #expect(created.json["category"] as? String == "plant-milks")
            let id = try #require(created.json["id"] as? String)

            let detail = try await client.send(.get, "/api/catalog/products/\(id)/")
            #expect(detail.status == .ok)
            #expect(detail.json["name"] as? String == "Oat Milk 1 l")
            let categories = try await client.send(.get, "/api/catalog/categories/")
            let list = try #require(try JSONSerialization.jsonObject(with: Data(categories.body.readableBytesView)) as? [[String: Any]])
            #expect(list.count == 1)
            #expect(list.first?["slug"] as? String == "plant-milks")
            #expect(list.first?["name"] as? String == "Plant milks")
            #expect(list.first?["product_count"] as? Int == 1)

            let renamed = try await client.send(
                .patch, "/api/catalog/categories/plant-milks/", json: ["name": "Dairy-free milks"], token: staff)
            #expect(renamed.json["name"] as? String == "Dairy-free milks")
            #expect(try await client.send(.patch, "/api/catalog/categories/nope/", json: ["name": "X"], token: staff).status == .notFound)

            let uncategorized = try await client.send(
                .post, "/api/catalog/products/", json: ["name": "Mystery", "price": "1.00", "quantity": 1], token: staff)
            #expect(uncategorized.json["category"] is NSNull)
            #expect(try await client.send(.get, "/api/catalog/products/\(UUID().uuidString)/").status == .notFound)
            #expect(try await client.send(.get, "/api/catalog/products/123/").status == .notFound)
        }
    }

    @Test(arguments: TestStore.all)
    func onlyStaffWrite(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let (_, customer) = try await client.signUp("shopper")
            let id = try await client.createProduct("Tea", staff: staff)
            let body: [String: Any] = ["name": "X", "price": "1.00", "quantity": 1]
            #expect(try await client.send(.post, "/api/catalog/products/", json: body).status == .unauthorized)
            #expect(try await client.send(.post, "/api/catalog/products/", json: body, token: customer).status == .forbidden)
            #expect(
                try await client.send(.patch, "/api/catalog/products/\(id)/", json: ["name": "Y"], token: customer).status == .forbidden)
            #expect(try await client.send(.delete, "/api/catalog/products/\(id)/", token: customer).status == .forbidden)
            #expect(try await client.send(.delete, "/api/catalog/products/\(id)/").status == .unauthorized)
            #expect(
                try await client.send(
                    .post, "/api/catalog/products/\(id)/inventory/", json: ["adjustment": 5, "reason": "x"], token: customer
                ).status == .forbidden)
            #expect(
                try await client.send(.patch, "/api/catalog/categories/tea/", json: ["name": "X"], token: customer).status == .forbidden)
            #expect(try await client.quantity(of: id) == 10)
        }
    }

    @Test(
        arguments: [
            (["price": "12.345"], "price"), (["price": "-1.00"], "price"), (["price": "10000000.01"], "price"),
            (["price": "abc"], "price"), (["price": "1e3"], "price"), (["price": ""], "price"), (["price": 12.5], "price"),
            (["quantity": -1], "quantity"), (["quantity": 1.5], "quantity"), (["quantity": "3"], "quantity"),
            (["name": ""], "name"), (["category": "Not A Slug"], "category"), (["category": String(repeating: "a", count: 65)], "category"),
        ] as [([String: any Sendable], String)])
    func invalidProductsAre400NamingTheField(overrides: [String: any Sendable], field: String) async throws {
        try await withShop(.sqlite) { client, shop in
            let staff = try await shop.staffToken(client)
            var body: [String: Any] = ["name": "Cocoa", "price": "3.00", "quantity": 5]
            for (key, value) in overrides { body[key] = value }
            let reply = try await client.send(.post, "/api/catalog/products/", json: body, token: staff)
            #expect(reply.status == .badRequest)
            #expect(reply.fields == [field], "\(reply.text)")
            #expect(try await client.send(.get, "/api/catalog/products/?in_stock=false").json["count"] as? Int == 0)
        }
    }

    @Test func moneyParsesAndFormatsWithoutFloatingPoint() {
        #expect(Money.parse("0") == 0)
        #expect(Money.parse("0.01") == 1)
        #expect(Money.parse("12.5") == 1_250)
        #expect(Money.parse("10000000.00") == 1_000_000_000)
        #expect(Money.parse("10000000.01") == nil)
        #expect(Money.parse(".5") == nil)
        #expect(Money.parse("5.") == nil)
        #expect(Money.parse("+5") == nil)
        #expect(Money.parse("1,50") == nil)
        #expect(Money.parse("٣.٠٠") == nil)
        #expect(Money.format(0) == "0.00")
        #expect(Money.format(5) == "0.05")
        #expect(Money.format(1_250) == "12.50")
        #expect(Money.format(1_000_000_000) == "10000000.00")
    }

    @Test(arguments: TestStore.all)
    func patchChangesOnlyWhatIsSentAndNeverStock(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct(
                "Green Tea", price: "4.00", quantity: 7, category: "tea", description: "Sencha", staff: staff)
            let renamed = try await client.send(
                .patch, "/api/catalog/products/\(id)/", json: ["price": "4.25", "category": "green-tea"], token: staff)
            #expect(renamed.status == .ok)
            #expect(renamed.json["price"] as? String == "4.25")
            #expect(renamed.json["name"] as? String == "Green Tea")
            #expect(renamed.json["description"] as? String == "Sencha")
            #expect(renamed.json["category"] as? String == "green-tea")
            let cleared = try await client.send(.patch, "/api/catalog/products/\(id)/", json: ["category": NSNull()], token: staff)
            #expect(cleared.json["category"] is NSNull)
            let stock = try await client.send(.patch, "/api/catalog/products/\(id)/", json: ["quantity": 99], token: staff)
            #expect(stock.status == .badRequest)
            #expect(stock.fields == ["quantity"])
            #expect(try await client.quantity(of: id) == 7)
            #expect(
                try await client.send(.patch, "/api/catalog/products/\(UUID().uuidString)/", json: ["name": "X"], token: staff).status
                    == .notFound)
        }
    }

    @Test(arguments: TestStore.all)
    func inventoryAdjustmentsNeverGoBelowWhatCartsHold(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct("Espresso", quantity: 5, staff: staff)
            let delivered = try await client.send(
                .post, "/api/catalog/products/\(id)/inventory/", json: ["adjustment": 20, "reason": "delivery"], token: staff)
            #expect(delivered.status == .ok)
            #expect(delivered.json["quantity"] as? Int == 25)
            let productID = try #require(UUID(uuidString: id))
            let reserved = try await shop.database.transaction {
                try await shop.inventory.reserve(productID, 10, while: CatalogStore.live, on: $0)
            }
            #expect(reserved)
            let tooMuch = try await client.send(
                .post, "/api/catalog/products/\(id)/inventory/", json: ["adjustment": -16, "reason": "count"], token: staff)
            #expect(tooMuch.status == .conflict)
            #expect(tooMuch.code == "stock_reserved")
            let writeOff = try await client.send(
                .post, "/api/catalog/products/\(id)/inventory/", json: ["adjustment": -15, "reason": "broken"], token: staff)
            #expect(writeOff.json["quantity"] as? Int == 0)
            for body: [String: Any] in [
                ["adjustment": 0, "reason": "x"], ["adjustment": 5, "reason": " "], ["adjustment": "5", "reason": "x"], ["reason": "x"],
            ] {
                #expect(
                    try await client.send(.post, "/api/catalog/products/\(id)/inventory/", json: body, token: staff).status == .badRequest)
            }
            #expect(
                try await client.send(
                    .post, "/api/catalog/products/\(UUID().uuidString)/inventory/", json: ["adjustment": 1, "reason": "x"], token: staff
                ).status == .notFound)
            let audit = try await shop.database.read { sql in
                try await sql.select().column("delta").from("inventory_adjustments").where("product_id", .equal, productID).all()
                    .map { try $0.decode(column: "delta", as: Int.self) }
            }
            #expect(audit.sorted() == [-15, 5, 20])
            // The reservation made above is not a cart line, so only the first two invariants can hold here.
            let onHand = try await shop.database.read {
                try await $0.select().column("on_hand").from("products").where("id", .equal, productID).first()?.decode(
                    column: "on_hand", as: Int.self)
            }
            #expect(onHand == 10)
        }
    }

    @Test(arguments: TestStore.all)
    func archivedProductsLeaveTheCatalog(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct("Old Stock", category: "misc", staff: staff)
            try await client.createProduct("New Stock", category: "misc", staff: staff)
            #expect(try await client.send(.delete, "/api/catalog/products/\(id)/", token: staff).status == .noContent)
            #expect(try await client.send(.get, "/api/catalog/products/\(id)/").status == .notFound)
            #expect(try await client.send(.delete, "/api/catalog/products/\(id)/", token: staff).status == .notFound)
            #expect(try await client.send(.patch, "/api/catalog/products/\(id)/", json: ["name": "X"], token: staff).status == .notFound)
            let list = try await client.send(.get, "/api/catalog/products/?in_stock=false")
            #expect(list.list.map { $0["name"] as? String } == ["New Stock"])
            let categories = try await client.send(.get, "/api/catalog/categories/")
            #expect(categories.text.contains("\"product_count\":1"))
        }
    }

    /// Cached pages are shared, so their links come from the normalized query, never from one caller's spelling.
    @Test func cachedPagesGiveEveryCallerTheSameNormalizedLinks() async throws {
        try await withShop(.sqlite, configure: { $0.catalogCacheTTL = .seconds(60) }) { client, shop in
            let staff = try await shop.staffToken(client)
            _ = try await client.createProducts("Ale", count: 3, quantity: 5, staff: staff)
            let odd = try await client.send(.get, "/api/catalog/products?x=%3Cscript%3E&in_stock=TRUE&ordering=name&limit=1&max_price=50")
            let plain = try await client.send(.get, "/api/catalog/products/?limit=1&max_price=50.00")
            #expect(shop.catalog.cache.hits.load(ordering: .relaxed) == 1, "the second request shares the first one's entry")
            for reply in [odd, plain] {
                #expect(
                    (reply.json["next"] as? String)?.hasSuffix("/api/catalog/products/?max_price=50.00&limit=1&offset=1") == true,
                    "\(reply.text)")
            }
        }
    }

    @Test(arguments: TestStore.all)
    func paginationLinksKeepFiltersAndStopAtTheEnd(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            for index in 1...7 { try await client.createProduct("Beer \(index)", price: "2.00", category: "beer", staff: staff) }
            try await client.createProduct("Wine", price: "9.00", category: "wine", staff: staff)

            let first = try await client.send(.get, "/api/catalog/products/?category=beer&limit=3")
            #expect(first.json["count"] as? Int == 7)
            #expect(first.list.count == 3)
            #expect(first.json["previous"] is NSNull)
            let next = try #require(first.json["next"] as? String)
            #expect(next == "/api/catalog/products/?category=beer&limit=3&offset=3", "relative without PUBLIC_URL")

            let last = try await client.send(.get, "/api/catalog/products/?category=beer&limit=3&offset=6")
            #expect(last.list.map { $0["name"] as? String } == ["Beer 7"])
            #expect(last.json["next"] is NSNull)
            #expect((last.json["previous"] as? String)?.hasSuffix("?category=beer&limit=3&offset=3") == true)

            let past = try await client.send(.get, "/api/catalog/products/?category=beer&offset=50")
            #expect(past.status == .ok)
            #expect(past.list.isEmpty)
            #expect(past.json["count"] as? Int == 7)
            for bad in ["limit=0", "limit=101", "limit=x", "offset=-1", "offset=1.5"] {
                let reply = try await client.send(.get, "/api/catalog/products/?\(bad)")
                #expect(reply.status == .badRequest, "\(bad)")
                #expect(reply.fields == [String(bad.prefix { $0 != "=" })])
            }
            #expect(try await client.send(.get, "/api/catalog/products/").list.count == 8)
        }
    }

    @Test(arguments: TestStore.all)
    func filtersCombineAndOrderingBreaksTiesById(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            try await client.createProduct(
                "Apple Juice", price: "3.00", quantity: 5, category: "juices", description: "Cloudy, pressed", staff: staff)
            try await client.createProduct("Orange Juice", price: "3.00", quantity: 0, category: "juices", staff: staff)
            try await client.createProduct("Pear Juice", price: "3.00", quantity: 2, category: "juices", staff: staff)
            try await client.createProduct("Apple Pie", price: "7.50", quantity: 1, category: "bakery", staff: staff)
            try await client.createProduct(
                "Crème Brûlée", price: "5.00", quantity: 3, category: "bakery", description: "100% butter_cream", staff: staff)

            func names(_ query: String) async throws -> [String] {
                let reply = try await client.send(.get, "/api/catalog/products/?\(query)")
                #expect(reply.status == .ok, "\(query): \(reply.text)")
                return reply.list.compactMap { $0["name"] as? String }
            }
            #expect(try await names("") == ["Apple Juice", "Apple Pie", "Crème Brûlée", "Pear Juice"])
            #expect(try await names("in_stock=false").count == 5)
            #expect(try await names("search=APPLE") == ["Apple Juice", "Apple Pie"])
            #expect(try await names("search=pressed") == ["Apple Juice"])
            #expect(try await names("search=CRÈME") == ["Crème Brûlée"])
            #expect(try await names("search=%25") == ["Crème Brûlée"])
            #expect(try await names("search=_") == ["Crème Brûlée"])
            #expect(try await names("search=%27%20OR%201%3D1%20--") == [])
            #expect(
                try await names("search=juice&category=juices&max_price=3.00&in_stock=false") == [
                    "Apple Juice", "Orange Juice", "Pear Juice",
                ])
            #expect(try await names("min_price=5&ordering=-price") == ["Apple Pie", "Crème Brûlée"])
            #expect(try await names("min_price=3.01&max_price=7.49") == ["Crème Brûlée"])
            #expect(try await names("category=none") == [])

            let byPrice = try await client.send(.get, "/api/catalog/products/?ordering=price&in_stock=false&max_price=3").list
            let ids = byPrice.compactMap { $0["id"] as? String }
            #expect(ids == ids.sorted())
            let byPriceDesc = try await client.send(.get, "/api/catalog/products/?ordering=-price&in_stock=false&max_price=3").list
            #expect(byPriceDesc.compactMap { $0["id"] as? String } == ids.sorted().reversed())
            #expect(try await names("ordering=-name") == ["Pear Juice", "Crème Brûlée", "Apple Pie", "Apple Juice"])
            #expect(try await names("ordering=created_at&in_stock=false").first == "Apple Juice")
            #expect(try await client.send(.get, "/api/catalog/products/?ordering=stock").fields == ["ordering"])
            #expect(try await client.send(.get, "/api/catalog/products/?max_price=1.234").fields == ["max_price"])
            #expect(try await client.send(.get, "/api/catalog/products/?category=Bad%20Slug").fields == ["category"])
        }
    }

    @Test(arguments: TestStore.all)
    func etagsAnswer304AndStaffWritesShowAtOnce(store: TestStore) async throws {
        try await withShop(store, configure: { $0.catalogCacheTTL = .seconds(60) }) { client, shop in
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct("Rooibos", price: "3.00", staff: staff)
            for path in ["/api/catalog/products/", "/api/catalog/products/\(id)/", "/api/catalog/categories/"] {
                let first = try await client.send(.get, path)
                let etag = try #require(first.headers[.eTag])
                #expect(first.headers[.cacheControl] == "public, max-age=60")
                let again = try await client.send(.get, path, headers: [.ifNoneMatch: etag])
                #expect(again.status == .notModified, "\(path)")
                #expect(again.body.readableBytes == 0)
                #expect(try await client.send(.get, path, headers: [.ifNoneMatch: "\"other\""]).status == .ok)
            }
            let before = try await client.send(.get, "/api/catalog/products/\(id)/")
            _ = try await client.send(.patch, "/api/catalog/products/\(id)/", json: ["price": "3.50"], token: staff)
            let after = try await client.send(.get, "/api/catalog/products/\(id)/")
            #expect(after.json["price"] as? String == "3.50")
            #expect(after.headers[.eTag] != before.headers[.eTag])
            let stale = try await client.send(.get, "/api/catalog/products/\(id)/", headers: [.ifNoneMatch: before.headers[.eTag] ?? ""])
            #expect(stale.status == .ok)
        }
    }

    @Test(arguments: TestStore.all)
    func stockMovesShowWithinTheCacheTTL(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock, configure: { $0.catalogCacheTTL = .seconds(60) }) { client, shop in
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct("Kombucha", quantity: 10, staff: staff)
            #expect(try await client.quantity(of: id) == 10)
            let productID = try #require(UUID(uuidString: id))
            _ = try await shop.database.transaction { try await shop.inventory.take(productID, 4, on: $0) }
            #expect(try await client.quantity(of: id) == 10, "served from the cache")
            #expect(shop.catalog.cache.hits.load(ordering: .relaxed) >= 1)
            clock.advance(by: 61)
            #expect(try await client.quantity(of: id) == 6, "the entry expired")
        }
    }

    @Test func cacheEvictsTheLeastRecentlyUsedEntry() async throws {
        let cache = CatalogCache(ttl: .seconds(60), capacity: 2)
        var builds = 0
        func get(_ key: String) async throws {
            _ = try await cache.body(for: key) {
                builds += 1
                return ByteBuffer(string: key)
            }
        }
        try await get("a")
        try await get("b")
        try await get("a")
        try await get("c")  // evicts b, the least recently used
        #expect(cache.count == 2)
        try await get("a")
        #expect(builds == 3)
        try await get("b")
        #expect(builds == 4)
    }
}

extension CatalogTests {
    /// Page links start with `PUBLIC_URL` when it is set, with what our own proxy forwarded under `TRUST_PROXY`, and
    /// are relative otherwise: a `Host` header a client made up never reaches a link (nor a cached answer).
    @Test func pageLinksNeverEchoAHostAClientMadeUp() async throws {
        let evil: HTTPFields = [.init("Host")!: "evil.example", .init("X-Forwarded-Host")!: "evil.example"]
        try await withShop(.sqlite) { client, shop in
            let staff = try await shop.staffToken(client)
            _ = try await client.createProducts("Cider", count: 2, quantity: 5, staff: staff)
            let relative = try await client.send(.get, "/api/catalog/products/?limit=1", headers: evil).json["next"] as? String
            #expect(relative == "/api/catalog/products/?limit=1&offset=1")
            let orders = try await client.send(.get, "/api/admin/orders/?limit=1", token: staff, headers: evil)
            #expect(!orders.text.contains("evil.example"))
        }
        try await withShop(.sqlite, configure: { $0.publicURL = "https://api.opply.example" }) { client, shop in
            let staff = try await shop.staffToken(client)
            _ = try await client.createProducts("Perry", count: 2, quantity: 5, staff: staff)
            let next = try await client.send(.get, "/api/catalog/products/?limit=1", headers: evil).json["next"] as? String
            #expect(next == "https://api.opply.example/api/catalog/products/?limit=1&offset=1")
        }
        try await withShop(.sqlite, configure: { $0.trustProxy = true }) { client, shop in
            let staff = try await shop.staffToken(client)
            _ = try await client.createProducts("Mead", count: 2, quantity: 5, staff: staff)
            let forwarded: HTTPFields = [.init("X-Forwarded-Proto")!: "https", .init("X-Forwarded-Host")!: "shop.example"]
            let next = try await client.send(.get, "/api/catalog/products/?limit=1", headers: forwarded).json["next"] as? String
            #expect(next == "https://shop.example/api/catalog/products/?limit=1&offset=1")
        }
    }
}
