import Foundation
import SQLKit

/// The stock rules: the only code that writes `on_hand` and `reserved`.
///
/// It owns those two columns and nothing else of `products`: whether a product may still be ordered, and at which name
/// and price, are the catalog's to say, and its callers hand those conditions in (`PriceList.orderable`), so one
/// statement still checks them all.
///
/// Every change is one conditional, atomic `UPDATE` run inside the caller's transaction; the row count says
/// whether the rule held. Nothing is read into Swift and written back, so concurrent callers can never oversell:
/// PostgreSQL re-checks the `WHERE` after waiting for the row lock, and SQLite runs one write transaction at a time.
struct Inventory: Sendable {
    let clock: WallClock

    // MARK: Stock in the catalog's queries

    /// Units a customer can still order, `on_hand - reserved`, for the catalog's `quantity`.
    static var availableExpression: any SQLExpression {
        SQLBinaryExpression(SQLColumn("on_hand"), .subtract, SQLColumn("reserved"))
    }

    /// True for a product with units to order (the catalog's `in_stock` filter).
    static var inStockCondition: any SQLExpression {
        SQLBinaryExpression(availableExpression, .greaterThan, SQLLiteral.numeric("0"))
    }

    /// `inStockCondition` for a catalog query that reads `products` through an index without the stock columns: the
    /// stock is looked up by id, so only the rows every other filter let through touch the table.
    static func inStockLookup(of row: String = "products") -> SQLQueryString {
        "(SELECT s.on_hand - s.reserved FROM products s WHERE s.id = \(ident: row).id) > 0"
    }

    /// The stock columns of a new product row and their values for no stock yet: the catalog inserts the row and
    /// this area stocks it (`adjust`, `stockNewProducts`) in the same transaction.
    static let unstockedColumns = ["on_hand", "reserved"]
    static var unstockedValues: [any SQLExpression] { [SQLLiteral.numeric("0"), SQLLiteral.numeric("0")] }

    // MARK: Stock changes

    /// Puts `quantity` more units in carts' hands; false when fewer are available or the product is not `orderable`
    /// (the catalog's condition).
    func reserve(_ productID: UUID, _ quantity: Int, while orderable: SQLQueryString, on sql: any SQLDatabase) async throws -> Bool {
        try await changed(
            sql.update("products")
                .set(SQLIdentifier("reserved"), to: SQLQueryString("reserved + \(bind: quantity)"))
                .where("id", .equal, productID).where(orderable)
                .where(SQLQueryString("on_hand - reserved >= \(bind: quantity)")))
    }

    /// Gives reserved units back to everyone; the caller deletes or shrinks the cart line in the same transaction.
    func release(_ productID: UUID, _ quantity: Int, on sql: any SQLDatabase) async throws {
        let released = try await changed(
            sql.update("products")
                .set(SQLIdentifier("reserved"), to: SQLQueryString("reserved - \(bind: quantity)"))
                .where("id", .equal, productID).where(SQLQueryString("reserved >= \(bind: quantity)")))
        guard released else { throw StockInvariantBroken(productID: productID, operation: "release \(quantity)") }
    }

    /// The conditional `UPDATE` that takes an order line's units, `RETURNING id` when the rule held: a direct line
    /// takes from what is available while the catalog's `condition` holds (the product can be ordered, at the price
    /// the line copies), a checkout line takes its cart's reservation, leaving `on_hand` and `reserved` together.
    /// The order placements run it (`OrderPlacement`): on PostgreSQL as one step of the one statement that places an
    /// order, on SQLite alone. Plain text with binds, not a builder: it is written for every order line.
    func taking(_ line: OrderLine, while condition: SQLQueryString) -> SQLQueryString {
        let (quantity, product) = (line.quantity, line.product)
        let take: SQLQueryString =
            line.reserved
            ? """
            UPDATE products SET on_hand = on_hand - \(bind: quantity), reserved = reserved - \(bind: quantity) \
            WHERE id = \(bind: product) AND reserved >= \(bind: quantity)
            """
            : """
            UPDATE products SET on_hand = on_hand - \(bind: quantity) \
            WHERE id = \(bind: product) AND on_hand - reserved >= \(bind: quantity) AND \(condition)
            """
        return take + " RETURNING id"
    }

    /// Whether `taking(line)` held, given whether it returned the product: false when a direct line is short; a
    /// checkout line whose reservation is not there breaks the books and throws.
    func taken(_ line: OrderLine, returned: Bool) throws -> Bool {
        guard returned || !line.reserved else {
            throw StockInvariantBroken(productID: line.product, operation: "take reserved \(line.quantity)")
        }
        return returned
    }

    /// Takes many products' units at once for orders written in bulk (the order seed): one conditional statement,
    /// each product only while it has the units available and is `orderable`; throws, rolling the caller's
    /// transaction back, when one has not.
    func take(_ quantities: [UUID: Int], while orderable: SQLQueryString, on sql: any SQLDatabase) async throws {
        guard !quantities.isEmpty else { return }
        var wanted: SQLQueryString = "WITH wanted (id, quantity) AS (VALUES "
        for (index, (product, quantity)) in quantities.enumerated() {
            wanted += "\(unsafeRaw: index == 0 ? "" : ", ")(\(bind: product), \(bind: quantity))"
        }
        let taken = try await sql.raw(
            wanted
                + """
                ) UPDATE products SET on_hand = on_hand - wanted.quantity FROM wanted WHERE products.id = wanted.id \
                AND products.on_hand - products.reserved >= wanted.quantity AND \(orderable) RETURNING products.id
                """
        ).all().count
        guard taken == quantities.count else {
            throw AppError.conflict(code: "insufficient_stock", "\(quantities.count - taken) products no longer had the units to take.")
        }
    }

    /// The units on the shelf and in carts of each of `products` that exists, with the row they were read from; with
    /// `locking` (PostgreSQL) the rows are locked in ascending id order, the order every transaction locks products in,
    /// until the transaction ends. `alongside`: other areas' columns read in the same statement (the catalog's name
    /// and price, `PriceList.entryColumns`). A batch of orders decides from these which of its orders fit
    /// (`BatchedPlacement`).
    func levels(_ products: [UUID], locking: Bool, alongside columns: [String] = [], on sql: any SQLDatabase) async throws
        -> [UUID: (onHand: Int, reserved: Int, row: any SQLRow)]
    {
        guard !products.isEmpty else { return [:] }
        let others = columns.map { ", " + $0 }.joined()
        var select: SQLQueryString =
            "SELECT id, on_hand, reserved\(unsafeRaw: others) FROM products WHERE id IN (\(binds: products)) ORDER BY id"
        if locking { select += " FOR UPDATE" }
        var levels: [UUID: (onHand: Int, reserved: Int, row: any SQLRow)] = [:]
        for row in try await sql.raw(select).all() {
            levels[try row.decode(column: "id", as: UUID.self)] = (
                try row.decode(column: "on_hand", as: Int.self), try row.decode(column: "reserved", as: Int.self), row
            )
        }
        return levels
    }

    /// Takes a batch of orders' units, summed per product: `direct` from what is available (only while the product is
    /// `orderable`), `held` from carts' reservations. One conditional statement; the caller decided from the locked
    /// rows (`levels`) that every product has them, so one that has not breaks the books and throws.
    func take(_ batch: [UUID: (direct: Int, held: Int)], while orderable: SQLQueryString, on sql: any SQLDatabase) async throws {
        guard !batch.isEmpty else { return }
        let taken = try await sql.raw(taking(batch, while: orderable)).all().count
        guard taken == batch.count else { throw StockInvariantBroken(productID: batch.keys.first ?? UUID(), operation: "take a batch") }
    }

    /// The conditional `UPDATE` of `take(_:while:on:)`, `RETURNING id` for each product that gave its units, for a
    /// caller that runs it inside a larger statement (`BatchedPlacement` on PostgreSQL).
    func taking(_ batch: [UUID: (direct: Int, held: Int)], while orderable: SQLQueryString) -> SQLQueryString {
        var wanted: SQLQueryString = ""
        for (index, (product, take)) in batch.enumerated() {
            wanted +=
                index == 0
                ? "SELECT \(bind: product) AS id, \(bind: take.direct) AS direct, \(bind: take.held) AS held"
                : " UNION ALL SELECT \(bind: product), \(bind: take.direct), \(bind: take.held)"
        }
        return """
            UPDATE products SET on_hand = on_hand - wanted.direct - wanted.held, reserved = reserved - wanted.held \
            FROM (\(wanted)) AS wanted WHERE products.id = wanted.id AND products.on_hand - products.reserved >= wanted.direct \
            AND products.reserved >= wanted.held AND (wanted.direct = 0 OR (\(orderable))) RETURNING products.id
            """
    }

    /// Puts a cancelled order's units back on the shelf.
    func putBack(_ productID: UUID, _ quantity: Int, on sql: any SQLDatabase) async throws {
        try await sql.update("products")
            .set(SQLIdentifier("on_hand"), to: SQLQueryString("on_hand + \(bind: quantity)"))
            .where("id", .equal, productID).run()
    }

    enum AdjustOutcome: Equatable { case adjusted, unknownProduct, belowReserved }

    /// A staff stock change (delivery, count, write-off) of a product the catalog still keeps (`live`), recorded
    /// in the stock history. Stock on hand never drops below what carts hold.
    func adjust(_ productID: UUID, by delta: Int, reason: String, staff: UUID?, while live: SQLQueryString, on sql: any SQLDatabase)
        async throws -> AdjustOutcome
    {
        let now = clock.now
        let adjusted = try await sql.update("products")
            .set(SQLIdentifier("on_hand"), to: SQLQueryString("on_hand + \(bind: delta)"))
            .where("id", .equal, productID).where(live)
            .where(SQLQueryString("on_hand + \(bind: delta) >= reserved"))
            .returning("on_hand").first()
        guard let onHand = try adjusted?.decode(column: "on_hand", as: Int.self) else {
            let exists = try await sql.select().column("id").from("products").where("id", .equal, productID).where(live).first() != nil
            return exists ? .belowReserved : .unknownProduct
        }
        try await sql.insert(into: "inventory_adjustments")
            .columns("id", "product_id", "customer_id", "delta", "reason", "created_at", "on_hand_after")
            .values(
                SQLBind(UUID.timeOrdered(at: now)), SQLBind(productID), SQLBind(staff), SQLBind(delta), SQLBind(reason), SQLBind(now),
                SQLBind(onHand)
            )
            .run()
        return .adjusted
    }

    /// One line of a product's stock history: who changed the stock on hand, when, by how much, why, and what it
    /// came to (unknown for changes recorded before it was kept).
    struct StockChange: Sendable {
        let staff: UUID?
        let at: Date
        let delta: Int
        let reason: String
        let onHandAfter: Int?
    }

    /// A product's latest `limit` stock changes, newest first.
    func history(of productID: UUID, limit: Int, on sql: any SQLDatabase) async throws -> [StockChange] {
        try await sql.select().columns("customer_id", "created_at", "delta", "reason", "on_hand_after").from("inventory_adjustments")
            .where("product_id", .equal, productID).orderBy("created_at", .descending).orderBy("id", .descending).limit(limit)
            .all().map { row in
                StockChange(
                    staff: try row.decode(column: "customer_id", as: UUID?.self), at: try row.decode(column: "created_at", as: Date.self),
                    delta: try row.decode(column: "delta", as: Int.self), reason: try row.decode(column: "reason", as: String.self),
                    onHandAfter: try row.decode(column: "on_hand_after", as: Int?.self))
            }
    }

    /// A product's units on the shelf and in carts.
    func level(of productID: UUID, on sql: any SQLDatabase) async throws -> (onHand: Int, reserved: Int)? {
        guard let row = try await sql.select().columns("on_hand", "reserved").from("products").where("id", .equal, productID).first() else {
            return nil
        }
        return (try row.decode(column: "on_hand", as: Int.self), try row.decode(column: "reserved", as: Int.self))
    }

    /// Stocks many new products at once (the seed): one audit row each, then one set-based update.
    func stockNewProducts(_ stock: [(UUID, Int)], reason: String, on sql: any SQLDatabase) async throws {
        guard !stock.isEmpty else { return }
        let now = clock.now
        var insert = sql.insert(into: "inventory_adjustments")
            .columns("id", "product_id", "customer_id", "delta", "reason", "created_at", "on_hand_after")
        for (productID, quantity) in stock {
            insert = insert.values(
                SQLBind(UUID.timeOrdered(at: now)), SQLBind(productID), SQLBind(UUID?.none), SQLBind(quantity), SQLBind(reason),
                SQLBind(now), SQLBind(quantity))
        }
        try await insert.run()
        try await sql.update("products")
            .set(
                SQLIdentifier("on_hand"),
                to: SQLQueryString(
                    "on_hand + (SELECT COALESCE(SUM(delta), 0) FROM inventory_adjustments a WHERE a.product_id = products.id)")
            )
            .where("id", .in, stock.map(\.0)).where("on_hand", .equal, 0)
            .run()
    }

    /// Units available to order now, per product that is `orderable` (for telling a shopper what is left).
    func available(_ productIDs: [UUID], while orderable: SQLQueryString, on sql: any SQLDatabase) async throws -> [UUID: Int] {
        guard !productIDs.isEmpty else { return [:] }
        let rows = try await sql.select().column("id").column(Self.availableExpression, as: "available")
            .from("products").where("id", .in, productIDs).where(orderable).all()
        var result: [UUID: Int] = [:]
        for row in rows {
            result[try row.decode(column: "id", as: UUID.self)] = try row.decode(column: "available", as: Int.self)
        }
        return result
    }

    private func changed(_ query: SQLUpdateBuilder) async throws -> Bool {
        try await query.returning("id").all().count == 1
    }
}

/// A stock operation found the books in a state the rules forbid; the transaction is rolled back and logged.
struct StockInvariantBroken: Error, CustomStringConvertible {
    let productID: UUID
    let operation: String
    var description: String { "stock invariant broken for product \(productID): \(operation)" }
}
