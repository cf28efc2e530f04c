import Foundation
import SQLKit

/// The SQL of the catalog: `products` (never their stock columns, which `Inventory`'s expressions stand for) and
/// `categories`.
/// Shopper-facing reads go to `reader` (a replica when configured); everything else to the primary.
struct CatalogStore: Sendable {
    let primary: any Database
    let reader: any CatalogSource
    /// How list pages are read (chosen in `Shop` for the store).
    var paging: any CatalogPaging
    let counts = CatalogCounts()

    /// A condition on a `products` row: the product is still in the catalog (not archived).
    static var live: SQLQueryString { "archived_at IS NULL" }

    /// A product still in the catalog (not archived).
    func product(_ id: UUID) async throws -> Product? {
        try await reader.read { try await product(id, on: $0) }
    }

    /// A live product read inside a transaction; `lock` holds the row until commit on PostgreSQL, so a
    /// read-modify-write cannot undo a concurrent change (SQLite runs one write transaction at a time anyway).
    func product(_ id: UUID, on sql: any SQLDatabase, lock: Bool = false) async throws -> Product? {
        var select = sql.select().columns(Product.columns).from("products")
            .where("id", .equal, id).where("archived_at", .is, SQLLiteral.null)
        if lock { select = select.for(.update) }
        return try await select.first().map(Product.init(row:))
    }

    /// Every category, with its number of live products when `counted` (else 0): counted in one pass over the
    /// products, kept in `counts` until the catalog's version moves.
    func categories(counted: Bool = true) async throws -> [Category] {
        try await reader.read { sql in
            let rows = try await sql.raw("SELECT slug, name FROM categories ORDER BY slug").all()
            let counts = counted ? try await perCategory(on: sql) : [:]
            return try rows.map { row in
                let slug = try row.decode(column: "slug", as: String.self)
                return Category(slug: slug, name: try row.decode(column: "name", as: String.self), productCount: counts[slug] ?? 0)
            }
        }
    }

    private func perCategory(on sql: any SQLDatabase) async throws -> [String: Int] {
        if let row = try await sql.raw("SELECT catalog FROM catalog_version").first(),
            let counts = counts.perCategory(at: try row.decode(column: "catalog", as: Int.self))
        {
            return counts
        }
        let rows = try await sql.raw(
            """
            SELECT category, count(*) AS n, (SELECT catalog FROM catalog_version) AS catalog FROM products
            WHERE archived_at IS NULL AND category IS NOT NULL GROUP BY category
            """
        ).all()
        var counted: [String: Int] = [:]
        for row in rows { counted[try row.decode(column: "category", as: String.self)] = try row.decode(column: "n", as: Int.self) }
        if let catalog = try rows.first?.decode(column: "catalog", as: Int.self) { counts.store(perCategory: counted, at: catalog) }
        return counted
    }

    func category(_ slug: String, on sql: any SQLDatabase) async throws -> Category? {
        try await sql.raw(
            """
            SELECT c.slug, c.name, (SELECT count(*) FROM products p WHERE p.category = c.slug AND p.archived_at IS NULL) AS product_count
            FROM categories c WHERE c.slug = \(bind: slug)
            """
        ).first().map(Self.category(row:))
    }

    private static func category(row: any SQLRow) throws -> Category {
        Category(
            slug: try row.decode(column: "slug", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            productCount: try row.decode(column: "product_count", as: Int.self)
        )
    }

    /// The `limit` live products with the fewest units to order, fewest first. It reads every live product (an index
    /// on stock would make every reservation rewrite all the product indexes), so its caller keeps the answer a while.
    func lowestStock(limit: Int) async throws -> [(id: UUID, name: String, available: Int)] {
        try await reader.read { sql in
            try await sql.select().columns("id", "name").column(Inventory.availableExpression, as: "available")
                .from("products").where("archived_at", .is, SQLLiteral.null)
                .orderBy(Inventory.availableExpression).orderBy("id").limit(limit).all()
                .map {
                    (
                        try $0.decode(column: "id", as: UUID.self), try $0.decode(column: "name", as: String.self),
                        try $0.decode(column: "available", as: Int.self)
                    )
                }
        }
    }

    /// Up to `limit` live products with units to order, picked at random, with their name, price and units
    /// available (for the order seed).
    func sample(limit: Int) async throws -> [(id: UUID, name: String, priceMinor: Int, available: Int)] {
        try await primary.read { sql in
            try await sql.select().columns("id", "name", "price_minor").column(Inventory.availableExpression, as: "available")
                .from("products").where("archived_at", .is, SQLLiteral.null).where(Inventory.inStockCondition)
                .orderBy(SQLFunction("random")).limit(limit).all()
                .map {
                    (
                        try $0.decode(column: "id", as: UUID.self), try $0.decode(column: "name", as: String.self),
                        try $0.decode(column: "price_minor", as: Int.self), try $0.decode(column: "available", as: Int.self)
                    )
                }
        }
    }

    /// A new category; false when the slug is taken.
    func insertCategory(_ slug: String, name: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.insert(into: "categories").columns("slug", "name").values(SQLBind(slug), SQLBind(name))
            .ignoringConflicts(with: ["slug"]).returning("slug").all().count == 1
    }

    /// Creates the category for a slug not seen before, named from the slug.
    func ensureCategory(_ slug: String, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "categories").columns("slug", "name")
            .values(SQLBind(slug), SQLBind(Category.name(fromSlug: slug)))
            .ignoringConflicts(with: ["slug"]).run()
    }

    func renameCategory(_ slug: String, to name: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.update("categories").set("name", to: name).where("slug", .equal, slug).returning("slug").all().count == 1
    }

    private static let insertColumns =
        ["id", "name", "description", "search_text", "search_short", "price_minor", "category"] + Inventory.unstockedColumns
        + ["created_at", "updated_at"]

    /// A new product row's values, in `insertColumns` order: no stock yet.
    private static func insertValues(id: UUID, name: String, description: String, priceMinor: Int, category: String?, at now: Date)
        -> [any SQLExpression]
    {
        let described: [any SQLExpression] = [
            SQLBind(id), SQLBind(name), SQLBind(description), SQLBind(Product.searchText(name: name, description: description)),
            SQLBind(Product.searchShort(name: name, description: description)),
            SQLBind(priceMinor), SQLBind(category),
        ]
        return described + Inventory.unstockedValues + [SQLBind(now), SQLBind(now)]
    }

    /// A new product row with no stock yet; `Inventory` stocks it in the same transaction.
    func insert(id: UUID, name: String, description: String, priceMinor: Int, category: String?, at now: Date, on sql: any SQLDatabase)
        async throws
    {
        try await sql.insert(into: "products").columns(Self.insertColumns)
            .values(Self.insertValues(id: id, name: name, description: description, priceMinor: priceMinor, category: category, at: now))
            .run()
    }

    /// Many new products in one statement (the seed).
    func insert(
        batch: [(id: UUID, name: String, description: String, priceMinor: Int, category: String)], at now: Date, on sql: any SQLDatabase
    ) async throws {
        var insert = sql.insert(into: "products").columns(Self.insertColumns)
        for product in batch {
            insert = insert.values(
                Self.insertValues(
                    id: product.id, name: product.name, description: product.description, priceMinor: product.priceMinor,
                    category: product.category, at: now))
        }
        try await insert.run()
    }

    func update(_ product: Product, at now: Date, on sql: any SQLDatabase) async throws {
        try await sql.update("products")
            .set("name", to: product.name).set("description", to: product.description)
            .set("search_text", to: Product.searchText(name: product.name, description: product.description))
            .set("search_short", to: Product.searchShort(name: product.name, description: product.description))
            .set("price_minor", to: product.priceMinor).set("category", to: product.category)
            .set("updated_at", to: now)
            .where("id", .equal, product.id).run()
    }

    /// Marks a product changed now (its stock, which `Inventory` wrote).
    func touch(_ id: UUID, at now: Date, on sql: any SQLDatabase) async throws {
        try await sql.update("products").set("updated_at", to: now).where("id", .equal, id).run()
    }

    /// Hides a product from the catalog; true when it was live.
    func archive(_ id: UUID, at now: Date, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.update("products").set("archived_at", to: now).set("updated_at", to: now)
            .where("id", .equal, id).where("archived_at", .is, SQLLiteral.null)
            .returning("id").all().count == 1
    }
}
