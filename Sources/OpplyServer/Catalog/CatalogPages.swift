import Foundation
import SQLKit

/// How a list of products is read: the portable statements (an offset page, a keyset page, the exact count kept in
/// `counts`); `paging` picks among them, or its tuned statements (`PostgresPages`).
extension CatalogStore {
    func list(_ query: ProductQuery) async throws -> (products: [Product], count: Int) {
        try await reader.read { sql in
            let count = try await count(query, on: sql)
            guard query.page.offset < count else { return ([], count) }
            return (try await paging.offsetPage(query, count: count, of: self, on: sql), count)
        }
    }

    /// The exact number of products `query`'s filters match (the back office's list, beside its keyset pages).
    func count(_ query: ProductQuery) async throws -> Int {
        try await reader.read { try await count(query, on: $0) }
    }

    /// The exact number of products `query`'s filters match: from `counts` while the catalog's versions stand still,
    /// else counted in the statement that reads the versions it is exact for.
    func count(_ query: ProductQuery, on sql: any SQLDatabase) async throws -> Int {
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

    static func versions(_ row: any SQLRow) throws -> CatalogCounts.Versions {
        CatalogCounts.Versions(
            catalog: try row.decode(column: "catalog", as: Int.self), stock: try row.decode(column: "stock", as: Int.self))
    }

    func offsetPage(_ query: ProductQuery, indexOnlySearch: Bool = false, on sql: any SQLDatabase) -> SQLSelectBuilder {
        pageRows(
            query, descending: query.ordering.descending, from: nil, limit: query.page.limit, offset: query.page.offset,
            indexOnlySearch: indexOnlySearch, on: sql)
    }

    /// The rows of a page: the filtered products in the list's order (`descending` or not) from `keyset` on, `limit`
    /// of them after skipping `offset`.
    ///
    /// `indexOnlySearch` (PostgreSQL's, for a search in name order): the page's ids are picked by an index-only walk
    /// of `products_live_name`, which carries `search_short`, and the table is read for those ids only. Without it,
    /// PostgreSQL walks the name index and fetches every row from the table to test it (docs/decisions/016).
    func pageRows(
        _ query: ProductQuery, descending: Bool, from keyset: SQLQueryString?, limit: Int, offset: Int?, indexOnlySearch: Bool = false,
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
        guard indexOnlySearch, query.searchPattern != nil, query.ordering.column == "name" else { return page(filtered(products, query)) }
        let ids = page(filtered(sql.select().column("id").from("products"), query, stock: Inventory.inStockLookup(), indexOnly: true))
        return ordered(products.where(SQLQueryString("id IN (\(ids.query))")))
    }

    /// One cursor-mode page: up to `limit` products after (or before) `position`, in the list's order, and whether
    /// more lie beyond them in that direction. A keyset range on the ordering column plus id, read from the index that
    /// serves the ordering, so page 50,000 costs what page 1 does; products added or archived meanwhile shift nothing.
    func page(_ query: ProductQuery, from position: CatalogCursor?) async throws -> (products: [Product], more: Bool) {
        try await reader.read { sql in
            let rows = try await paging.cursorRows(query, from: position, of: self, on: sql)
            var products = try rows.prefix(query.page.limit).map(Product.init(row:))
            if position?.direction == .before { products.reverse() }
            return (products, rows.count > query.page.limit)
        }
    }

    /// The rows of a cursor page plus one (which says whether there are more), nearest `position` first; from `start`
    /// on (itself included) when the first match beyond `position` is known to be there.
    func cursorPage(
        _ query: ProductQuery, from position: CatalogCursor?, startingAt start: (name: String, id: UUID)? = nil,
        indexOnlySearch: Bool = false, on sql: any SQLDatabase
    ) -> SQLSelectBuilder {
        let descending = query.ordering.descending != (position?.direction == .before)
        func rows(from keyset: SQLQueryString?) -> SQLSelectBuilder {
            pageRows(
                query, descending: descending, from: keyset, limit: query.page.limit + 1, offset: nil, indexOnlySearch: indexOnlySearch,
                on: sql)
        }
        if let start {
            return rows(from: SQLQueryString("(name, id) \(unsafeRaw: descending ? "<=" : ">=") (\(bind: start.name), \(bind: start.id))"))
        }
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
        return rows(from: keyset)
    }

    /// `select` narrowed to `query`'s filters; `stock` is how `in_stock` is tested; `indexOnly`, the search is tested
    /// on what `products_live_name` carries (`searchInIndex`).
    func filtered(
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
    static func searchInIndex(_ pattern: String, row: String) -> SQLQueryString {
        """
        (\(ident: row).search_short LIKE \(bind: pattern) ESCAPE '\\' OR (\(ident: row).search_short IS NULL AND \
        (SELECT t.search_text FROM products t WHERE t.id = \(ident: row).id) LIKE \(bind: pattern) ESCAPE '\\'))
        """
    }
}

extension ProductQuery {
    /// The same query without its search: the rows a search walk tests.
    var withoutSearch: ProductQuery {
        var query = self
        query.search = nil
        return query
    }
}
