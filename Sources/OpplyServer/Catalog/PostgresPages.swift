import Foundation
import SQLKit

/// How the catalog's list pages are read: `CatalogStore` holds the portable statements, a paging picks among them or
/// adds its own. Chosen once in `Shop`: `PortablePages` on SQLite, `PostgresPages` on PostgreSQL.
protocol CatalogPaging: Sendable {
    /// The products of `query`'s offset page, `count` being the exact number its filters match.
    func offsetPage(_ query: ProductQuery, count: Int, of store: CatalogStore, on sql: any SQLDatabase) async throws -> [Product]

    /// The rows of `query`'s cursor page from `position` plus one (which says whether there are more), nearest
    /// `position` first.
    func cursorRows(_ query: ProductQuery, from position: CatalogCursor?, of store: CatalogStore, on sql: any SQLDatabase)
        async throws -> [any SQLRow]
}

/// The pages as the portable statements read them, filters through the indexes each store has.
struct PortablePages: CatalogPaging {
    func offsetPage(_ query: ProductQuery, count: Int, of store: CatalogStore, on sql: any SQLDatabase) async throws -> [Product] {
        try await store.offsetPage(query, on: sql).all().map(Product.init(row:))
    }

    func cursorRows(_ query: ProductQuery, from position: CatalogCursor?, of store: CatalogStore, on sql: any SQLDatabase)
        async throws -> [any SQLRow]
    {
        try await store.cursorPage(query, from: position, on: sql).all()
    }
}

/// PostgreSQL's pages for a search, whose plans its own estimates choose badly (docs/decisions/016, 017, 028): a
/// search page is walked along the ordering's index or its matches sorted, as the exact counts say is cheaper, and a
/// cursor walk starts where its first match was found. Every other page is the portable one.
struct PostgresPages: CatalogPaging {
    /// The most matches `namePage` sorts, and the most rows of `products_live_name` it walks for a page.
    var sortLimit = 5_000
    var nameWalkLimit = 100_000
    /// The most rows of the ordering's index `walkedPage` reads before it gives up on a walk.
    static let walkLimit = 2_000

    func offsetPage(_ query: ProductQuery, count: Int, of store: CatalogStore, on sql: any SQLDatabase) async throws -> [Product] {
        if let products = try await walkedPage(query, count: count, of: store, on: sql) { return products }
        if let products = try await namePage(query, count: count, of: store, on: sql) { return products }
        return try await store.offsetPage(query, indexOnlySearch: true, on: sql).all().map(Product.init(row:))
    }

    func cursorRows(_ query: ProductQuery, from position: CatalogCursor?, of store: CatalogStore, on sql: any SQLDatabase)
        async throws -> [any SQLRow]
    {
        if let rows = try await searchWalk(query, from: position, of: store, on: sql) { return rows }
        return try await store.cursorPage(query, from: position, indexOnlySearch: true, on: sql).all()
    }

    /// An offset page of a search in price or date order whose matches lie thick among the rows its
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
    private func walkedPage(_ query: ProductQuery, count: Int, of store: CatalogStore, on sql: any SQLDatabase) async throws -> [Product]? {
        guard query.searchPattern != nil, query.ordering.column != "name" else { return nil }
        let base = try await store.count(query.withoutSearch, on: sql)
        let needed = query.page.offset + query.page.limit
        let expected = needed * base / max(count, 1)
        guard expected * 4 <= Self.walkLimit else { return nil }
        let walk = walk(query, reading: max(expected * 4, needed), of: store, on: sql)
        let found = try await sql.raw(walk).all()
        guard found.count == min(query.page.limit, count - query.page.offset) else { return nil }
        return try found.map(Product.init(row:))
    }

    /// An offset page of a search in name order, read the way the exact count says is cheaper:
    /// up to `sortLimit` matches are fetched through the trigram index and sorted; more are found by walking
    /// `products_live_name` (which carries `search_short`, so the walk reads no table row) to the page's last match.
    ///
    /// PostgreSQL's estimate for a `LIKE '%…%'` swings with each `ANALYZE`, so its choice was a coin toss between
    /// sorting many matches and walking far to a few (docs/decisions/016 and 017). Both statements leave PostgreSQL
    /// nothing to choose: the matches are a `MATERIALIZED` CTE, planned on its own; the walk is a `LIMIT`ed window of
    /// the index, searched outside it.
    /// A walk that found fewer than the page holds within `nameWalkLimit` rows (matches crowded at the end of the
    /// order) falls back to the sort. Cursor pages have no count: they walk (`pageRows`).
    private func namePage(_ query: ProductQuery, count: Int, of store: CatalogStore, on sql: any SQLDatabase) async throws -> [Product]? {
        guard query.searchPattern != nil, query.ordering.column == "name" else { return nil }
        if count > sortLimit {
            let walked = try await sql.raw(walk(query, reading: nameWalkLimit, of: store, on: sql)).all()
            if walked.count == min(query.page.limit, count - query.page.offset) { return try walked.map(Product.init(row:)) }
        }
        return try await sql.raw(sorted(query, of: store, on: sql)).all().map(Product.init(row:))
    }

    /// `query`'s offset page (in name order) from all its matches, sorted.
    func sorted(_ query: ProductQuery, of store: CatalogStore, on sql: any SQLDatabase) -> SQLQueryString {
        let matches = store.filtered(sql.select().columns(Product.columns).from("products"), query)
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
    func walk(_ query: ProductQuery, reading rows: Int, of store: CatalogStore, on sql: any SQLDatabase) -> SQLQueryString {
        let column = query.ordering.column
        let direction: SQLDirection = query.ordering.descending ? .descending : .ascending
        var unfiltered = query.withoutSearch
        unfiltered.inStock = false
        let window = store.filtered(sql.select().columns("id", column, "search_short").from("products"), unfiltered)
            .orderBy(column, direction).orderBy("id", direction).limit(rows)
        let stock: SQLQueryString = query.inStock ? " AND \(Inventory.inStockLookup(of: "w"))" : ""
        let order = query.ordering.descending ? "DESC" : "ASC"
        let ids: SQLQueryString = """
            SELECT w.id FROM (\(window.query)) w WHERE \(CatalogStore.searchInIndex(query.searchPattern ?? "%", row: "w"))\(stock) \
            ORDER BY w.\(ident: column) \(unsafeRaw: order), w.id \(unsafeRaw: order) \
            LIMIT \(literal: query.page.limit) OFFSET \(literal: query.page.offset)
            """
        let page = sql.select().columns(Product.columns).from("products").where(SQLQueryString("id IN (\(ids))"))
            .orderBy(column, direction).orderBy("id", direction)
        return "\(page.query)"
    }

    /// A cursor page of a name-order search, walked from where the same walk found its first match
    /// before, while the catalog's versions say nothing it can see has changed since (`CatalogCounts`); nil when no
    /// such walk applies, or when the versions moved under a remembered start (then the whole walk, `cursorPage`).
    ///
    /// The walk reads every index row between its start and its matches: a common term's first match can lie tens of
    /// thousands of names in (docs/decisions/028). The page's statement reads the versions it was taken at, so a start
    /// is only ever remembered, and used, for the very catalog it was found in.
    private func searchWalk(_ query: ProductQuery, from position: CatalogCursor?, of store: CatalogStore, on sql: any SQLDatabase)
        async throws -> [any SQLRow]?
    {
        guard query.searchPattern != nil, query.ordering.column == "name" else { return nil }
        let start = [query.scope, position?.direction.rawValue ?? "", position?.id.uuidString ?? "", position?.name ?? ""]
            .joined(separator: "\u{1}")
        let known = store.counts.firstMatch(from: start)
        let rows = try await store.cursorPage(
            query, from: position, startingAt: known.map { ($0.name, $0.id) }, indexOnlySearch: true, on: sql
        )
        .column(SQLQueryString("(SELECT catalog FROM catalog_version)"), as: "catalog")
        .column(SQLQueryString("(SELECT stock FROM catalog_version)"), as: "stock")
        .all()
        guard let first = rows.first else { return known == nil ? rows : nil }
        let versions = try CatalogStore.versions(first)
        if let known, !known.versions.holds(at: versions, inStock: query.inStock) { return nil }
        let match = CatalogCounts.FirstMatch(
            name: try first.decode(column: "name", as: String.self), id: try first.decode(column: "id", as: UUID.self), versions: versions)
        store.counts.store(firstMatch: match, from: start)
        return rows
    }
}
