import Foundation
import SQLKit

/// What Orders and Cart may ask the catalog about products: names, current prices, and whether a product can be
/// ordered. They are given one (the `CatalogStore`) instead of reading `products` themselves.
protocol PriceList: Sendable {
    /// Name, price and whether it can be ordered, for each product asked for that exists.
    func entries(_ ids: [UUID], on sql: any SQLDatabase) async throws -> [UUID: PriceEntry]

    /// The columns of `products` an entry is read from, for a caller that reads them within a statement of its own
    /// (a batch of orders reads them with the stock it locks), and the entry they make.
    var entryColumns: [String] { get }
    func entry(from row: any SQLRow) throws -> PriceEntry

    /// Whether a product can go in a cart or an order at all (it exists and is not archived).
    func isOrderable(_ id: UUID, on sql: any SQLDatabase) async throws -> Bool

    /// The same, as a condition on a `products` row, for a stock change to hold only while it is true.
    var orderable: SQLQueryString { get }

    /// A condition on a `products` row: it can be ordered and still has `entry`'s name and price (a line priced from
    /// memory is taken only then).
    func unchanged(since entry: PriceEntry) -> SQLQueryString

    /// `select` joined, on `product` (a column naming a product id), to each product's current `name` and
    /// `price_minor`, selected under those names. A join rather than a second query, so that the caller's rows and
    /// the prices come from one statement, one snapshot: a price change is never half seen.
    func pricing(_ select: SQLSelectBuilder, product: SQLColumn) -> SQLSelectBuilder
}

/// One product as priced for a line: what the line copies at order time.
struct PriceEntry: Sendable, Equatable {
    let name: String
    let priceMinor: Int
    let archived: Bool
}

extension CatalogStore: PriceList {
    func entries(_ ids: [UUID], on sql: any SQLDatabase) async throws -> [UUID: PriceEntry] {
        guard !ids.isEmpty else { return [:] }
        // Plain text with binds, not a builder: every order runs it.
        let rows = try await sql.raw("SELECT id, name, price_minor, archived_at FROM products WHERE id IN (\(binds: ids))").all()
        var result: [UUID: PriceEntry] = [:]
        for row in rows { result[try row.decode(column: "id", as: UUID.self)] = try entry(from: row) }
        return result
    }

    var entryColumns: [String] { ["name", "price_minor", "archived_at"] }

    func entry(from row: any SQLRow) throws -> PriceEntry {
        PriceEntry(
            name: try row.decode(column: "name", as: String.self), priceMinor: try row.decode(column: "price_minor", as: Int.self),
            archived: try row.decode(column: "archived_at", as: Date?.self) != nil)
    }

    func isOrderable(_ id: UUID, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.select().column("id").from("products").where("id", .equal, id).where(Self.live).first() != nil
    }

    var orderable: SQLQueryString { Self.live }

    func unchanged(since entry: PriceEntry) -> SQLQueryString {
        "\(Self.live) AND price_minor = \(bind: entry.priceMinor) AND name = \(bind: entry.name)"
    }

    func pricing(_ select: SQLSelectBuilder, product: SQLColumn) -> SQLSelectBuilder {
        let products = SQLAlias(SQLIdentifier("products"), as: SQLIdentifier("p"))
        return select.column(SQLColumn("name", table: "p"), as: "name").column(SQLColumn("price_minor", table: "p"), as: "price_minor")
            .join(products, method: SQLJoinMethod.inner, on: SQLColumn("id", table: "p"), .equal, product)
    }
}
