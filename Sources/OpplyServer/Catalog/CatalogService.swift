import Foundation
import NIOCore
import SQLKit

/// The catalog rules: what staff may change, how money and slugs are checked, and when the cache is dropped.
struct CatalogService: Sendable {
    let store: CatalogStore
    let inventory: Inventory
    let cache: CatalogCache
    let clock: WallClock
    let cursors: CursorSigner
    /// Takes an archived product out of every cart, releasing its stock.
    let carts: any CartReleaser
    /// Tells other instances that the catalog changed.
    let announcer: CatalogAnnouncer

    struct NewProduct: Decodable, Sendable {
        var name: String
        var description: String?
        var price: String
        var quantity: Int
        var category: String?
    }

    /// A PATCH: absent fields stay, `category: null` clears the category.
    struct Changes: Decodable, Sendable {
        var name: String?
        var description: String?
        var price: String?
        var category: String??

        init() {}

        private enum CodingKeys: String, CodingKey { case name, description, price, category, quantity }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            description = try container.decodeIfPresent(String.self, forKey: .description)
            price = try container.decodeIfPresent(String.self, forKey: .price)
            if container.contains(.category) {
                category = .some(try container.decodeNil(forKey: .category) ? nil : container.decode(String.self, forKey: .category))
            }
            if container.contains(.quantity) {
                throw AppError.validation(field: "quantity", "Stock changes only through POST /api/catalog/products/{id}/inventory/.")
            }
        }
    }

    struct Adjustment: Decodable, Sendable {
        var adjustment: Int
        var reason: String
    }

    // MARK: Reads (cached)

    func listBody(_ query: ProductQuery, baseURL: String, render: @Sendable ([Product], Int) throws -> ByteBuffer) async throws -> (
        body: ByteBuffer, etag: String
    ) {
        let key =
            "list|\(baseURL)|\(query.page.limit)|\(query.page.offset)|\(query.search ?? "")|\(query.category ?? "")|"
            + "\(query.minPrice.map(String.init) ?? "")|\(query.maxPrice.map(String.init) ?? "")|"
            + "\(query.inStock)|\(query.ordering.rawValue)"
        return try await cache.body(for: key) {
            let (products, count) = try await store.list(query)
            return try render(products, count)
        }
    }

    /// A cursor-mode page (`query.cursor` set): the cursor is checked before the cache is asked, so a forged or
    /// foreign one is a `400` and never a cache entry; valid cursor pages are cached like offset pages, by cursor.
    func cursorBody(_ query: ProductQuery, baseURL: String) async throws -> (body: ByteBuffer, etag: String) {
        let raw = query.cursor ?? ""
        let position = try raw.isEmpty ? nil : cursors.decode(raw, for: query)
        let key = "cursor|\(baseURL)|\(query.page.limit)|\(raw)|\(query.scope)"
        let url = baseURL + "/api/catalog/products/"
        return try await cache.body(for: key) { [cursors] in
            let (products, more) = try await store.page(query, from: position)
            let link = { (direction: CatalogCursor.Direction, product: Product) in
                CursorPage<Product>.link(
                    url, query.filters, limit: query.page.limit, cursor: cursors.encode(CatalogCursor(direction, of: product, for: query)))
            }
            var next: String?
            var previous: String?
            if position?.direction == .before {
                previous = more ? products.first.map { link(.before, $0) } : nil
                next =
                    products.last.map { link(.after, $0) }
                    ?? CursorPage<Product>.link(url, query.filters, limit: query.page.limit, cursor: "")
            } else {
                next = more ? products.last.map { link(.after, $0) } : nil
                if let position {
                    // An empty page after a cursor (the rest was archived): step back from where that cursor stood.
                    var back = position
                    back.direction = .before
                    previous =
                        products.first.map { link(.before, $0) }
                        ?? CursorPage<Product>.link(url, query.filters, limit: query.page.limit, cursor: cursors.encode(back))
                }
            }
            let page = CursorPage(next: next, previous: previous, results: products)
            return ByteBuffer(bytes: try JSONCoding.encoder.encode(page))
        }
    }

    func productBody(_ id: UUID) async throws -> (body: ByteBuffer, etag: String) {
        try await cache.body(for: "product|\(id)") {
            guard let product = try await store.product(id) else { throw AppError.notFound }
            return ByteBuffer(bytes: try JSONCoding.encoder.encode(product))
        }
    }

    func categoriesBody() async throws -> (body: ByteBuffer, etag: String) {
        try await cache.body(for: "categories") {
            ByteBuffer(bytes: try JSONCoding.encoder.encode(try await store.categories()))
        }
    }

    // MARK: Staff reads (uncached, from the primary's view of the catalog)

    /// A keyset page of the staff's product list: `query`'s filters from the position its cursor names, with the
    /// cursors of the pages before and after it when there are any.
    func staffPage(_ query: ProductQuery) async throws -> (products: [Product], previous: String?, next: String?) {
        let raw = query.cursor ?? ""
        let position = try raw.isEmpty ? nil : cursors.decode(raw, for: query)
        let (products, more) = try await store.page(query, from: position)
        let backwards = position?.direction == .before
        let next = more || backwards ? products.last.map { cursors.encode(CatalogCursor(.after, of: $0, for: query)) } : nil
        let previous =
            position != nil && (more || !backwards)
            ? products.first.map { cursors.encode(CatalogCursor(.before, of: $0, for: query)) } : nil
        return (products, previous, next)
    }

    /// How many products `query`'s filters match, exactly (kept between catalog changes).
    func count(_ query: ProductQuery) async throws -> Int {
        try await store.count(query)
    }

    func product(_ id: UUID) async throws -> Product {
        guard let product = try await store.primary.read({ try await store.product(id, on: $0) }) else { throw AppError.notFound }
        return product
    }

    /// A product's stock on the shelf and in carts, and its latest stock changes, newest first.
    func stock(of id: UUID, history limit: Int = 50) async throws -> (onHand: Int, reserved: Int, history: [Inventory.StockChange]) {
        try await store.primary.read { sql in
            guard let level = try await inventory.level(of: id, on: sql) else { throw AppError.notFound }
            return (level.onHand, level.reserved, try await inventory.history(of: id, limit: limit, on: sql))
        }
    }

    /// Live products with nothing left to order: every live product less those in stock, both counts kept between
    /// the catalog's changes (`CatalogCounts`), so the dashboard never scans the products.
    func outOfStock() async throws -> Int {
        var query = ProductQuery()
        query.inStock = false
        let live = try await store.count(query)
        query.inStock = true
        return live - (try await store.count(query))
    }

    /// The `limit` live products with the fewest units to order (the dashboard's low stock).
    func lowestStock(limit: Int) async throws -> [(id: UUID, name: String, available: Int)] {
        try await store.lowestStock(limit: limit)
    }

    /// Every category; `counted`, with its number of live products (a count per category: not for every page).
    func categories(counted: Bool = true) async throws -> [Category] {
        try await store.categories(counted: counted)
    }

    // MARK: Rules

    static let priceProblem = FieldProblem("price", "Must be a decimal string with at most two places, from 0.00 to 10000000.00.")

    static func problems(name: String?, description: String?, category: String?) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        // Characters as people count them, bytes as the indexes do (a character may take many with combining marks).
        if let name, !(1...200).contains(name.trimmingCharacters(in: .whitespaces).count) || name.utf8.count > 600 {
            problems.append(FieldProblem("name", "Give a name of 1 to 200 characters (600 bytes)."))
        }
        if let description, description.count > 5_000 || description.utf8.count > 20_000 {
            problems.append(FieldProblem("description", "At most 5000 characters (20000 bytes)."))
        }
        if let category, !Category.isValidSlug(category) {
            problems.append(FieldProblem("category", "A slug of 1 to 64 characters from a-z, 0-9 and -."))
        }
        return problems
    }
}
