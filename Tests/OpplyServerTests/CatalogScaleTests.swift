import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Synchronization
import Testing

@testable import OpplyServer

/// The catalog at depth: cursor mode, the offset cap, query-string decoding, and the plans PostgreSQL picks.
@Suite struct CatalogScaleTests {
    /// The path and query of an absolute link, as the test client sends it.
    static func path(of link: String) -> String {
        link.range(of: "/api/").map { String(link[$0.lowerBound...]) } ?? link
    }

    /// Every product of a filtered list through offset mode (the reference order), in pages of 100.
    static func offsetWalk(_ client: some TestClientProtocol, _ filters: String) async throws -> [String] {
        var ids: [String] = []
        var offset = 0
        while true {
            let reply = try await client.send(.get, "/api/catalog/products/?\(filters)&limit=100&offset=\(offset)")
            #expect(reply.status == .ok, "\(reply.text)")
            let page = reply.list.compactMap { $0["id"] as? String }
            ids += page
            if page.count < 100 { return ids }
            offset += 100
        }
    }

    @Test(arguments: TestStore.all)
    func cursorWalkSeesEveryProductOnceInOrderBothWaysWhileTheCatalogChanges(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            try await shop.seedCatalog(products: 2_500)
            for (filters, ordering) in [
                ("min_price=2.00&in_stock=false", "-price"), ("max_price=20.00", "created_at"), ("category=coffee", "-name"),
                ("search=co", "name"), ("search=shops&in_stock=false", "-price"),
            ] {
                let query = "\(filters)&ordering=\(ordering)"
                let before = try await Self.offsetWalk(client, query)
                #expect(before.count > 100)

                // Forward, archiving one product already seen and one not yet seen, and adding one that sorts last.
                var seen: [String] = []
                var archived: Set<String> = []
                var link: String? = "/api/catalog/products/?\(query)&limit=37&cursor="
                var pages = 0
                while let next = link {
                    let reply = try await client.send(.get, Self.path(of: next))
                    #expect(reply.status == .ok, "\(reply.text)")
                    #expect(reply.json["count"] == nil)
                    seen += reply.list.compactMap { $0["id"] as? String }
                    link = reply.json["next"] as? String
                    pages += 1
                    if pages == 2 {
                        #expect(reply.json["previous"] is String)
                        let ahead = before[before.count - 5]
                        for id in [seen[3], ahead] {
                            #expect(try await client.send(.delete, "/api/catalog/products/\(id)/", token: staff).status == .noContent)
                            archived.insert(id)
                        }
                        try await client.createProduct(
                            "Aaa late arrival \(ordering)", price: "2.00", quantity: 5, category: "coffee", staff: staff)
                    }
                    if pages > 200 {
                        Issue.record("the walk does not end")
                        break
                    }
                }
                let after = try await Self.offsetWalk(client, query)
                #expect(Set(seen).count == seen.count, "a product was seen twice")
                #expect(!seen.contains(before[before.count - 5]), "a product archived ahead of the cursor was still listed")
                // What was seen, less what was archived after it was seen, is exactly the list as it stands now:
                // nothing skipped, in order, and the product added ahead of the cursor included.
                #expect(seen.filter { !archived.contains($0) } == after)

                // Back from the last page, following `previous`: the current list exactly.
                var last = "/api/catalog/products/?\(query)&limit=37&cursor="
                while let next = try await client.send(.get, last).json["next"] as? String { last = Self.path(of: next) }
                var backward: [[String]] = []
                var back: String? = last
                while let previous = back {
                    let reply = try await client.send(.get, Self.path(of: previous))
                    #expect(reply.status == .ok, "\(reply.text)")
                    backward.insert(reply.list.compactMap { $0["id"] as? String }, at: 0)
                    back = reply.json["previous"] as? String
                    if backward.count > 200 {
                        Issue.record("the walk back does not end")
                        break
                    }
                }
                #expect(backward.flatMap { $0 } == after)
            }
        }
    }

    @Test(arguments: TestStore.all)
    func forgedOrForeignCursorsAre400(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            for index in 1...5 { try await client.createProduct("Tea \(index)", price: "3.00", category: "tea", staff: staff) }
            let first = try await client.send(.get, "/api/catalog/products/?category=tea&limit=2&cursor=")
            #expect(first.status == .ok)
            #expect(first.json["previous"] is NSNull)
            let next = try #require(first.json["next"] as? String)
            let cursor = try #require(URLComponents(string: next)?.queryItems?.first(where: { $0.name == "cursor" })?.value)
            #expect(try await client.send(.get, "/api/catalog/products/?category=tea&limit=2&cursor=\(cursor)").list.count == 2)

            var forged = Array(cursor)
            forged[3] = forged[3] == "A" ? "B" : "A"
            for (query, field) in [
                ("category=tea&cursor=\(String(forged))", "cursor"), ("category=tea&cursor=garbage", "cursor"),
                ("category=tea&cursor=%2B%2F%3D", "cursor"), ("category=coffee&cursor=\(cursor)", "cursor"),
                ("category=tea&ordering=price&cursor=\(cursor)", "cursor"), ("cursor=\(cursor)", "cursor"),
                ("category=tea&cursor=&offset=10", "offset"),
            ] {
                let reply = try await client.send(.get, "/api/catalog/products/?\(query)")
                #expect(reply.status == .badRequest, "\(query): \(reply.text)")
                #expect(reply.fields == [field], "\(query)")
                #expect(reply.headers[.contentType] == "application/problem+json")
            }
        }
    }

    @Test(arguments: TestStore.all)
    func theCountStaysExactWhileItIsCached(store: TestStore) async throws {
        try await withShop(store, configure: { $0.catalogCacheTTL = .zero }) { client, shop in
            let staff = try await shop.staffToken(client)
            let one = try await client.createProduct("Tea one", quantity: 1, category: "tea", staff: staff)
            let two = try await client.createProduct("Tea two", quantity: 2, category: "tea", staff: staff)
            let none = try await client.createProduct("Tea none", quantity: 0, category: "tea", staff: staff)
            func count(_ query: String) async throws -> Int? {
                try await client.send(.get, "/api/catalog/products/?category=tea&\(query)").json["count"] as? Int
            }
            #expect(try await count("") == 2)
            #expect(try await count("in_stock=false") == 3)
            let recounts = shop.catalog.store.counts.recounts.load(ordering: .relaxed)
            #expect(try await count("limit=1&offset=1&ordering=-price") == 2)
            #expect(shop.catalog.store.counts.recounts.load(ordering: .relaxed) == recounts, "served from the count cache")

            // Stock crossing zero, each way, through an order, a cart and a delivery.
            let (_, token) = try await client.signUp("counter")
            let order = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": one, "quantity": 1]]], token: token)
            #expect(order.status == .created, "\(order.text)")
            #expect(try await count("") == 1)
            #expect(try await client.send(.post, "/api/cart/items/", json: ["product": two, "quantity": 2], token: token).status == .ok)
            #expect(try await count("") == 0)
            #expect(try await client.send(.delete, "/api/cart/items/\(two)/", token: token).status == .noContent)
            #expect(try await count("") == 1)
            let delivery = try await client.send(
                .post, "/api/catalog/products/\(none)/inventory/", json: ["adjustment": 5, "reason": "delivery"], token: staff)
            #expect(delivery.status == .ok, "\(delivery.text)")
            #expect(try await count("") == 2)
            #expect(try await count("in_stock=false") == 3)

            // Staff edits and archives.
            #expect(
                try await client.send(.patch, "/api/catalog/products/\(two)/", json: ["category": "coffee"], token: staff).status == .ok)
            #expect(try await count("in_stock=false") == 2)
            #expect(try await client.send(.delete, "/api/catalog/products/\(one)/", token: staff).status == .noContent)
            #expect(try await count("in_stock=false") == 1)

            // Another instance's writes, which this one hears nothing about: 40 seeded products, 2 of them tea.
            let other = try await Shop.open(shop.config, logger: shop.logger)
            try await other.seedCatalog(products: 40)
            await other.close()
            #expect(try await count("in_stock=false") == 3)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func aSearchsFirstPageFollowsTheCatalogWhereverItsFirstMatchWasRemembered(store: TestStore) async throws {
        try await withShop(store, configure: { $0.catalogCacheTTL = .zero }) { client, shop in
            let staff = try await shop.staffToken(client)
            try await shop.seedCatalog(products: 300)  // names "Alpine …" to "Wild Valley …": none holds "zest"
            let late = try await client.createProduct("Zz zest late", staff: staff)
            let later = try await client.createProduct("Zzz zest later", staff: staff)
            func firstPage() async throws -> [String] {
                let reply = try await client.send(.get, "/api/catalog/products/?search=zest&ordering=name&limit=5&cursor=")
                #expect(reply.status == .ok, "\(reply.text)")
                return reply.list.compactMap { $0["id"] as? String }
            }
            #expect(try await firstPage() == [late, later])
            #expect(try await firstPage() == [late, later], "walked from where the first match was found")
            if store == .postgres {
                #expect(shop.catalog.store.counts.firstMatch(from: ProductQuery.zestByName) != nil)
            }

            // A new match sorting first, a product renamed to match, the first match archived: each moves the catalog.
            let early = try await client.createProduct("Aaa zest early", staff: staff)
            #expect(try await firstPage() == [early, late, later])
            let renamed = try await client.createProduct("Abc plain", staff: staff)
            #expect(
                try await client.send(.patch, "/api/catalog/products/\(renamed)/", json: ["name": "Abc zest"], token: staff).status == .ok)
            #expect(try await firstPage() == [early, renamed, late, later])
            #expect(try await client.send(.delete, "/api/catalog/products/\(early)/", token: staff).status == .noContent)
            #expect(try await firstPage() == [renamed, late, later])
            try await shop.expectStockInvariants()
        }
    }

    @Test func offsetModeStopsAtTenThousandAndPointsToCursor() async throws {
        try await withShop(.sqlite) { client, _ in
            #expect(try await client.send(.get, "/api/catalog/products/?limit=10&offset=9990").status == .ok)
            #expect(try await client.send(.get, "/api/catalog/products/?limit=100&offset=9900").status == .ok)
            for query in ["limit=10&offset=9991", "offset=10000", "limit=100&offset=9901", "offset=5000000"] {
                let reply = try await client.send(.get, "/api/catalog/products/?\(query)")
                #expect(reply.status == .badRequest, "\(query)")
                #expect(reply.fields == ["offset"])
                #expect(reply.text.contains("cursor"))
            }
        }
    }

    @Test(arguments: TestStore.all)
    func plusInAQueryStringIsASpace(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            try await client.createProduct("Oat Milk Barista", price: "2.49", staff: staff)
            try await client.createProduct("Vitamin C+ Water", price: "1.49", staff: staff)
            try await client.createProduct("Zinc C+ Tablets", price: "3.49", staff: staff)
            func names(_ query: String) async throws -> [String] {
                try await client.send(.get, "/api/catalog/products/?\(query)").list.compactMap { $0["name"] as? String }
            }
            #expect(try await names("search=oat+milk") == ["Oat Milk Barista"])
            #expect(try await names("search=oat%20milk") == ["Oat Milk Barista"])
            #expect(try await names("search=oat+milk&ordering=-price+") == [])  // "-price " is no ordering: 400, no list
            #expect(try await names("search=c%2B") == ["Vitamin C+ Water", "Zinc C+ Tablets"])
            #expect(try await names("search=c+") == ["Zinc C+ Tablets"])  // "c ", as in "zinc c+"

            // A literal plus survives the page links (spelled %2B), in both modes.
            for mode in ["offset=0", "cursor="] {
                let first = try await client.send(.get, "/api/catalog/products/?search=c%2B&limit=1&\(mode)")
                #expect(first.list.map { $0["name"] as? String } == ["Vitamin C+ Water"])
                let next = try #require(first.json["next"] as? String)
                #expect(next.contains("search=c%2B"), "\(next)")
                let second = try await client.send(.get, Self.path(of: next))
                #expect(second.list.map { $0["name"] as? String } == ["Zinc C+ Tablets"])
            }
        }
    }

    /// At 100,000 products every filter and ordering, offset page and cursor page alike, is served from an index:
    /// PostgreSQL never scans the products table for a page.
    @Test(.enabled(if: TestStore.postgresURL != nil), .timeLimit(.minutes(2)))
    func everyFilterAndOrderingUsesAnIndexAtOneHundredThousandProducts() async throws {
        try await withShop(.postgres) { _, shop in
            // The plans depend on the rows' shape, not on how they came: one generated INSERT (seconds) instead of
            // the seed's batches (minutes in a debug build beside the rest of the suite). Names, prices, categories
            // and stock spread like the seed's.
            let slugs = Shop.seedCategories.map(\.slug)
            let nouns = Shop.seedCategories.flatMap(\.nouns)
            try await shop.database.transaction { sql in
                for slug in slugs { try await shop.catalog.store.ensureCategory(slug, on: sql) }
                try await sql.raw(
                    """
                    INSERT INTO products (id, name, description, search_text, price_minor, category, on_hand, reserved, created_at, updated_at)
                    SELECT gen_random_uuid(), name, description, lower(name || E'\\n' || description), 49 + (i * 7919) % 6950,
                           (\(bind: slugs))[1 + i % \(unsafeRaw: String(slugs.count))], i % 501, 0,
                           now() - i * interval '1 second', now()
                    FROM generate_series(1, 100000) AS i,
                         LATERAL (SELECT (\(bind: nouns))[1 + (i * 31) % \(unsafeRaw: String(nouns.count))] || ' #' || i AS name) AS n,
                         LATERAL (SELECT 'Supplied to cafés, restaurants and shops, batch ' || i AS description) AS d
                    """
                ).run()
                try await sql.raw("ANALYZE products").run()
            }
            let filters: [(inout ProductQuery) -> Void] = [
                { $0.search = "oat" }, { $0.category = "coffee" },
                {
                    $0.minPrice = 500
                    $0.maxPrice = 600
                },
            ]
            var checked = 0
            for mask in 0..<(1 << filters.count) {
                for inStock in [true, false] {
                    for ordering in ProductQuery.Ordering.allCases {
                        var query = ProductQuery()
                        query.inStock = inStock
                        query.ordering = ordering
                        for (bit, filter) in filters.enumerated() where mask & (1 << bit) != 0 { filter(&query) }
                        let first = try await shop.catalog.store.page(query, from: nil).products
                        let position = first.last.map { CatalogCursor(.after, of: $0, for: query) }
                        if query.search != nil, query.ordering.column == "name" {
                            // Both ways of reading an offset page of a name-order search read the same page, and so does
                            // a walk too short for it, which falls back to the sort.
                            var walking = shop.catalog.store
                            walking.paging = PostgresPages(sortLimit: 0)
                            var fallingBack = walking
                            fallingBack.paging = PostgresPages(sortLimit: 0, nameWalkLimit: 20)
                            for offset in [0, 200] {
                                query.page = PageRequest(limit: 20, offset: offset)
                                let sorted = try await shop.catalog.store.list(query)
                                if mask == 1 { #expect(sorted.products.count == 20) }  // the search alone
                                #expect(try await walking.list(query).products.map(\.id) == sorted.products.map(\.id))
                                #expect(try await fallingBack.list(query).products.map(\.id) == sorted.products.map(\.id))
                            }
                        }
                        for plan in try await shop.catalog.store.plans(query, from: position) {
                            #expect(!plan.contains("Seq Scan on products"), "\(query.filters) in_stock=\(inStock):\n\(plan)")
                            checked += 1
                        }
                    }
                }
            }
            // Two plans per query, and for each of the 4 × 2 searches the walk in the 4 price and date orders, or in
            // the 2 name orders both the sorted matches and the walk.
            #expect(checked == 8 * 2 * 6 * 2 + 4 * 2 * 4 + 4 * 2 * 2 * 2)
        }
    }
}

extension ProductQuery {
    /// The start a first cursor page of `search=zest&ordering=name` walks from (`PostgresPages.searchWalk`).
    fileprivate static var zestByName: String {
        var query = ProductQuery()
        query.search = "zest"
        query.ordering = .name
        return [query.scope, "", "", ""].joined(separator: "\u{1}")
    }
}
