import Foundation
import SQLKit

/// The SQL of carts: `cart_lines`, where each held line is a reservation of stock.
///
/// Lines are always locked before products (claim or upsert the line, then reserve or release), so a cart
/// change, a checkout and the sweeper never wait on each other in a cycle.
struct CartStore: Sendable {
    let database: any Database

    /// The cart as shown, at the current catalog prices: its lines joined to the catalog's names and prices in one
    /// statement (`PriceList.pricing`), so one snapshot answers and a price change is seen whole or not at all.
    func cart(of customer: UUID, prices: any PriceList) async throws -> Cart {
        try await database.read { sql in
            let lines = sql.select()
                .columns(SQLColumn("product_id", table: "l"), SQLColumn("quantity", table: "l"), SQLColumn("reserved_until", table: "l"))
                .from(SQLAlias(SQLIdentifier("cart_lines"), as: SQLIdentifier("l")))
            let rows = try await prices.pricing(lines, product: SQLColumn("product_id", table: "l"))
                .where(SQLColumn("customer_id", table: "l"), .equal, SQLBind(customer))
                .orderBy("name").orderBy(SQLColumn("product_id", table: "l"))
                .all()
            var expiresAt: Date?
            let items = try rows.map { row in
                let until = try row.decode(column: "reserved_until", as: Date.self)
                expiresAt = max(expiresAt ?? until, until)
                return Cart.Item(
                    product: try row.decode(column: "product_id", as: UUID.self), name: try row.decode(column: "name", as: String.self),
                    quantity: try row.decode(column: "quantity", as: Int.self),
                    priceMinor: try row.decode(column: "price_minor", as: Int.self)
                )
            }
            return Cart(items: items, expiresAt: expiresAt)
        }
    }

    /// Takes lines out of a cart (one product, or all), returning what each held.
    func claim(customer: UUID, product: UUID? = nil, on sql: any SQLDatabase) async throws -> [ClaimedLine] {
        var delete = sql.delete(from: "cart_lines").where("customer_id", .equal, customer)
        if let product { delete = delete.where("product_id", .equal, product) }
        return try await delete.returning("product_id", "quantity", "held", "held_since").all().map(Self.claimed(row:))
    }

    /// A customer's cart lines, locked until the transaction ends on PostgreSQL (so the sweeper cannot release one a
    /// checkout is about to take); the caller holds the cart's lock.
    func lines(customer: UUID, on sql: any SQLDatabase) async throws -> [ClaimedLine] {
        let select = sql.select().columns("product_id", "quantity", "held", "held_since").from("cart_lines")
            .where("customer_id", .equal, customer)
        if database.engine == .postgres { select.for(.update) }
        return try await select.all().map(Self.claimed(row:))
    }

    func lineCount(customer: UUID, on sql: any SQLDatabase) async throws -> Int {
        try await sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n").from("cart_lines")
            .where("customer_id", .equal, customer).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Takes every line of a product out of every cart (the product was archived).
    func claimAll(product: UUID, on sql: any SQLDatabase) async throws -> [ClaimedLine] {
        try await sql.delete(from: "cart_lines").where("product_id", .equal, product)
            .returning("product_id", "quantity", "held").all().map(Self.claimed(row:))
    }

    /// Puts a held line in the cart (its previous version, if any, was claimed in this transaction).
    func putHeld(customer: UUID, product: UUID, quantity: Int, until: Date, since: Date, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "cart_lines").columns("customer_id", "product_id", "quantity", "held", "reserved_until", "held_since")
            .values(SQLBind(customer), SQLBind(product), SQLBind(quantity), SQLBind(true), SQLBind(until), SQLBind(since))
            .run()
    }

    /// Every change to a cart moves all its reservations' expiry to `until`, but never past `maxHold` after a line's
    /// reservation began.
    func touch(customer: UUID, until: Date, maxHold: Duration, on sql: any SQLDatabase) async throws {
        let seconds = maxHold.timeInterval
        // Times are `timestamptz` on PostgreSQL and seconds since 1970 (REAL) on SQLite.
        let latest: SQLQueryString =
            database.engine == .postgres ? "held_since + make_interval(secs => \(bind: seconds))" : "held_since + \(bind: seconds)"
        try await sql.raw(
            """
            UPDATE cart_lines SET reserved_until = CASE WHEN held_since IS NULL OR \(latest) > \(bind: until) THEN \(bind: until) \
            ELSE \(latest) END WHERE customer_id = \(bind: customer) AND held = \(bind: true)
            """
        ).run()
    }

    /// Marks up to `limit` expired held lines released and returns them; a line flips once, so it is released once,
    /// however many sweepers run. PostgreSQL skips lines another transaction holds (a checkout, another sweeper).
    func expire(before now: Date, limit: Int, engine: SQLEngine, on sql: any SQLDatabase) async throws -> [ClaimedLine] {
        let rows: [any SQLRow] =
            switch engine {
            case .postgres:
                try await sql.raw(
                    """
                    UPDATE cart_lines SET held = false
                    WHERE (customer_id, product_id) IN (
                        SELECT customer_id, product_id FROM cart_lines
                        WHERE held AND reserved_until < \(bind: now)
                        ORDER BY product_id LIMIT \(bind: limit) FOR UPDATE SKIP LOCKED)
                    RETURNING product_id, quantity, true AS held
                    """
                ).all()
            case .sqlite:
                try await sql.raw(
                    """
                    UPDATE cart_lines SET held = 0
                    WHERE rowid IN (SELECT rowid FROM cart_lines WHERE held = 1 AND reserved_until < \(bind: now) LIMIT \(bind: limit))
                    RETURNING product_id, quantity, 1 AS held
                    """
                ).all()
            }
        return try rows.map(Self.claimed(row:))
    }

    private static func claimed(row: any SQLRow) throws -> ClaimedLine {
        ClaimedLine(
            product: try row.decode(column: "product_id", as: UUID.self),
            quantity: try row.decode(column: "quantity", as: Int.self),
            held: try row.decode(column: "held", as: Bool.self),
            heldSince: row.contains(column: "held_since") ? try row.decode(column: "held_since", as: Date?.self) : nil
        )
    }
}
