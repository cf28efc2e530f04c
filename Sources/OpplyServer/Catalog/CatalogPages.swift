import Foundation
import SQLKit

/// How a list of products is read: the portable statements (an offset page, a keyset page, the exact count kept in
/// `counts`) and, on PostgreSQL, the walk or sort each filter's counts say is cheaper.
extension CatalogStore {
    func list(_ query: ProductQuery) async throws -> (products: [Product], count: Int) {
        try await reader.read { sql in
            let count = try await count(query, on: sql)
            guard query.page.offset < count else { return ([], count) }
            if let products = try await walkedPage(query, count: count, on: sql) { return (products, count) }
            if let products = try await namePage(query, count: count, on: sql) { return (products, count) }
            return (try await offsetPage(query, on: sql).all().map(Product.init(row:)), count)
        }
    }

    /// The most rows of the ordering's index `walkedPage` reads before it gives up on a walk.
    static let walkLimit = 2_000

    /// On PostgreSQL, an offset page of a search in price or date order whose matches lie thick among the rows its
    /// other filters let through, read by walking the ordering's index and testing each row's text, as a name-order
    /// search does; nil when that would not pay (then the trigram index's matches are sorted, `offsetPage`).
    ///
    /// PostgreSQL cannot know that `bean` is every other coffee: it sorts every trigram match where a walk would read
    /// a few dozen rows (docs/decisions/017). The exact counts decide instead: with `count`
    /// matches among `base` rows, spread evenly, `offset + limit` matches lie within the first
    /// `(offset + limit) × base / count` rows of the walk. The walk reads at most four times that (never more than
    /// `walkLimit`), so matches crowded at the far end of the order (a correlation the counts cannot see) cost a
    /// bounded walk and then the sort, never a scan; a walk that found fewer rows than the page holds is not used.
    /// Cursor pages have no count and are not walked.
    private func walkedPage(_ query: ProductQuery, count: Int, on sql: any SQLDatabase) async throws -> [Product]? {
        guard sql.dialect.name == "postgresql", query.searchPattern != nil, query.ordering.column != "name" else { return nil }
        let base = try await self.count(query.withoutSearch, on: sql)
        let needed = query.page.offset + query.page.limit
        let expected = needed * base / max(count, 1)
        guard expected * 4 <= Self.walkLimit else { return nil }
        let walk = walk(query, reading: max(expected * 4, needed), on: sql)
        let found = try await sql.raw(walk).all()
        guard found.count == min(query.page.limit, count - query.page.offset) else { return nil }
        return try found.map(Product.init(row:))
    }

    /// On PostgreSQL, an offset page of a search in name order, read the way the exact count says is cheaper:
    /// up to `sortLimit` matches are fetched through the trigram index and sorted; more are found by walking
    /// `products_live_name` (which carries `search_short`, so the walk reads no table row) to the page's last match.
    ///
    /// PostgreSQL's estimate for a `LIKE '%…%'` swings with each `ANALYZE`, so its choice was a coin toss between
    /// sorting many matches and walking far to a few (docs/decisions/016 and 017). Both statements leave PostgreSQL nothing to choose: the matches are a
    /// `MATERIALIZED` CTE, planned on its own; the walk is a `LIMIT`ed window of the index, searched outside it.
    /// A walk that found fewer than the page holds within `nameWalkLimit` rows (matches crowded at the end of the
    /// order) falls back to the sort. Cursor pages have no count: they walk (`pageRows`).
    private func namePage(_ query: ProductQuery, count: Int, on sql: any SQLDatabase) async throws -> [Product]? {
        guard sql.dialect.name == "postgresql", query.searchPattern != nil, query.ordering.column == "name" else { return nil }
        if count > sortLimit {
            let walked = try await sql.raw(walk(query, reading: nameWalkLimit, on: sql)).all()
            if walked.count == min(query.page.limit, count - query.page.offset) { return try walked.map(Product.init(row:)) }
        }
        return try await sql.raw(sorted(query, on: sql)).all().map(Product.init(row:))
    }

    /// `query`'s offset page (in name order) from all its matches, sorted.
    func sorted(_ query: ProductQuery, on sql: any SQLDatabase) -> SQLQueryString {
        let matches = filtered(sql.select().columns(Product.columns).from("products"), query)
        let order = query.ordering.descending ? "DESC" : "ASC"
        return """
            WITH matches AS MATERIALIZED (\(matches.query)) SELECT * FROM matches \
            ORDER BY name \(unsafeRaw: order), id \(unsafeRaw: order) \
            LIMIT \(literal: query.page.limit) OFFSET \(literal: query.page.offset)
            """
    }

    /// `query`'s offset page from the first `rows` rows of its ordering's index that its filters other than the search
    /// and the stock let through. The window reads only ids, the ordering column and the text (for name order all
    /// in `products_live_name`, so no table row); stock is looked up for the matches only, the page's rows by id.
    func walk(_ query: ProductQuery, reading rows: Int, on sql: any SQLDatabase) -> SQLQueryString {
        let column = query.ordering.column
        let direction: SQLDirection = query.ordering.descending ? .descending : .ascending
        var unfiltered = query.withoutSearch
        unfiltered.inStock = false
        let window = filtered(sql.select().columns("id", column, "search_short").from("products"), unfiltered)
            .orderBy(column, direction).orderBy("id", direction).limit(rows)
        let stock: SQLQueryString = query.inStock ? " AND \(Inventory.inStockLookup(of: "w"))" : ""
        let order = query.ordering.descending ? "DESC" : "ASC"
        let ids: SQLQueryString = """
            SELECT w.id FROM (\(window.query)) w WHERE \(Self.searchInIndex(query.searchPattern ?? "%", row: "w"))\(stock) \
            ORDER BY w.\(ident: column) \(unsafeRaw: order), w.id \(unsafeRaw: order) \
            LIMIT \(literal: query.page.limit) OFFSET \(literal: query.page.offset)
            """
        let page = sql.select().columns(Product.columns).from("products").where(SQLQueryString("id IN (\(ids))"))
            .orderBy(column, direction).orderBy("id", direction)
        return "\(page.query)"
    }

    /// The exact number of products `query`'s filters match (the back office's list, beside its keyset pages).
    func count(_ query: ProductQuery) async throws -> Int {
        try await reader.read { try await count(query, on: $0) }
    }

    /// The exact number of products `query`'s filters match: from `counts` while the catalog's versions stand still,
    /// else counted in the statement that reads the versions it is exact for.
    private func count(_ query: ProductQuery, on sql: any SQLDatabase) async throws -> Int {
        let filter = query.countKey
        if let row = try await sql.select().column("catalog").column("stock").from("catalog_version").first(),
            let count = counts.count(for: filter, inStock: query.inStock, at: try Self.versions(row))
        {
            return count
        }
        let counted = filtered(sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n"), query)
            .column(SQLQueryString("(SELECT catalog FROM catalog_version)"), as: "catalog")
            .column(SQLQueryString("(SELECT stock FROM catalog_version)"), as: "stock")
            .from("products")
        guard let row = try await counted.first() else { return 0 }
        let count = try row.decode(column: "n", as: Int.self)
        counts.store(count, for: filter, at: try Self.versions(row))
        return count
    }

    private static func versions(_ row: any SQLRow) throws -> CatalogCounts.Versions {
        CatalogCounts.Versions(
            catalog: try row.decode(column: "catalog", as: Int.self), stock: try row.decode(column: "stock", as: Int.self))
    }

    func offsetPage(_ query: ProductQuery, on sql: any SQLDatabase) -> SQLSelectBuilder {
        pageRows(
            query, descending: query.ordering.descending, from: nil, limit: query.page.limit, offset: query.page.offset,
            on: sql)
    }

    /// The rows of a page: the filtered products in the list's order (`descending` or not) from `keyset` on, `limit`
    /// of them after skipping `offset`.
    ///
    /// On PostgreSQL a search in name order picks the page's ids by an index-only walk of `products_live_name`, which
    /// carries `search_short`, and reads the table for those ids only. Without it, PostgreSQL walks the name index and
    /// fetches every row from the table to test it: a common term like `oat` at a million products meant 50,000
    /// fetched rows for one page; the trigram index's matches, sorted, would be as many.
    private func pageRows(
        _ query: ProductQuery, descending: Bool, from keyset: SQLQueryString?, limit: Int, offset: Int?,
        on sql: any SQLDatabase
    ) -> SQLSelectBuilder {
        let direction: SQLDirection = descending ? .descending : .ascending
        func ordered(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
            select.orderBy(query.ordering.column, direction).orderBy("id", direction)
        }
        func page(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
            if let keyset { select.where(keyset) }
            ordered(select).limit(limit)
            if let offset { select.offset(offset) }
            return select
        }
        let products = sql.select().columns(Product.columns).from("products")
        guard query.searchPattern != nil, query.ordering.column == "name", sql.dialect.name == "postgresql" else {
            return page(filtered(products, query))
        }
        let ids = page(filtered(sql.select().column("id").from("products"), query, stock: Inventory.inStockLookup(), indexOnly: true))
        return ordered(products.where(SQLQueryString("id IN (\(ids.query))")))
    }

    /// One cursor-mode page: up to `limit` products after (or before) `position`, in the list's order, and whether
    /// more lie beyond them in that direction. A keyset range on the ordering column plus id, read from the index that
    /// serves the ordering, so page 50,000 costs what page 1 does; products added or archived meanwhile shift nothing.
    func page(_ query: ProductQuery, from position: CatalogCursor?) async throws -> (products: [Product], more: Bool) {
        try await reader.read { sql in
            let rows = try await cursorPage(query, from: position, on: sql).all()
            var products = try rows.prefix(query.page.limit).map(Product.init(row:))
            if position?.direction == .before { products.reverse() }
            return (products, rows.count > query.page.limit)
        }
    }

    /// The rows of a cursor page plus one (which says whether there are more), nearest `position` first.
    func cursorPage(_ query: ProductQuery, from position: CatalogCursor?, on sql: any SQLDatabase) -> SQLSelectBuilder {
        let descending = query.ordering.descending != (position?.direction == .before)
        let keyset = position.map { position in
            let comparison = descending ? "<" : ">"
            let value: SQLQueryString =
                switch query.ordering {
                case .name, .nameDescending: "\(bind: position.name ?? "")"
                case .price, .priceDescending: "\(bind: position.price ?? 0)"
                case .createdAt, .createdAtDescending: "(SELECT p.created_at FROM products p WHERE p.id = \(bind: position.id))"
                }
            return SQLQueryString(
                "(\(ident: query.ordering.column), id) \(unsafeRaw: comparison) (\(value), \(bind: position.id))")
        }
        return pageRows(query, descending: descending, from: keyset, limit: query.page.limit + 1, offset: nil, on: sql)
    }

    /// `select` narrowed to `query`'s filters; `stock` is how `in_stock` is tested; `indexOnly`, the search is tested
    /// on what `products_live_name` carries (`searchInIndex`).
    private func filtered(
        _ select: SQLSelectBuilder, _ query: ProductQuery, stock: any SQLExpression = Inventory.inStockCondition, indexOnly: Bool = false
    ) -> SQLSelectBuilder {
        var select = select.where("archived_at", .is, SQLLiteral.null)
        if let category = query.category { select = select.where("category", .equal, category) }
        if let minPrice = query.minPrice { select = select.where("price_minor", .greaterThanOrEqual, minPrice) }
        if let maxPrice = query.maxPrice { select = select.where("price_minor", .lessThanOrEqual, maxPrice) }
        if query.inStock { select = select.where(stock) }
        if let pattern = query.searchPattern {
            if let search = query.search, search.count >= 3, select.database.dialect.name == "sqlite" {
                // The trigram table narrows to candidate rows by index; the LIKE below keeps today's exact semantics.
                let phrase = "\"" + search.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                select = select.where(
                    SQLQueryString("rowid IN (SELECT rowid FROM products_search WHERE products_search MATCH \(bind: phrase))"))
            }
            select = select.where(
                indexOnly ? Self.searchInIndex(pattern, row: "products") : SQLQueryString("search_text LIKE \(bind: pattern) ESCAPE '\\'"))
        }
        return select
    }

    /// The search tested on `products_live_name`'s `search_short` (the search text when it fits an index row), and for
    /// the rare product whose text is longer, on its `search_text` looked up by id: the walk stays index-only.
    private static func searchInIndex(_ pattern: String, row: String) -> SQLQueryString {
        """
        (\(ident: row).search_short LIKE \(bind: pattern) ESCAPE '\\' OR (\(ident: row).search_short IS NULL AND \
        (SELECT t.search_text FROM products t WHERE t.id = \(ident: row).id) LIKE \(bind: pattern) ESCAPE '\\'))
        """
    }
}

extension ProductQuery {
    /// The same query without its search: the rows a search walk tests.
    fileprivate var withoutSearch: ProductQuery {
        var query = self
        query.search = nil
        return query
    }
}
