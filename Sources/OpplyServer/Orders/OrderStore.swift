import Foundation
import SQLKit

/// The SQL of orders: `orders` and `order_items`.
struct OrderStore: Sendable {
    let database: any Database

    /// Orders as they stand (any status, with their times and notes) and their lines, two statements for all: for
    /// orders that took their stock by other means (the seed). On PostgreSQL each column is bound as one array, a
    /// batch of any size in nine binds rather than nine a row (it takes at most 65,535); SQLite takes 250,000.
    func insert(history orders: [Order], on sql: any SQLDatabase) async throws {
        guard !orders.isEmpty else { return }
        let items = orders.flatMap { order in order.items.map { (order: order.id, item: $0) } }
        if database.engine == .postgres {
            try await sql.raw(
                Self.unnestedInsert(
                    into: "orders (\(Self.columns.joined(separator: ", ")))",
                    [
                        (orders.map(\.id), "uuid"), (orders.map(\.customer), "uuid"), (orders.map(\.status.rawValue), "text"),
                        (orders.map(\.totalMinor), "bigint"), (orders.map(\.createdAt), "timestamptz"),
                        (orders.map(\.updatedAt), "timestamptz"), (orders.map(\.fulfilledAt), "timestamptz"),
                        (orders.map(\.fulfilmentNote), "text"), (orders.map(\.cancelReason), "text"),
                    ])
            ).run()
            try await sql.raw(
                Self.unnestedInsert(
                    into: "order_items (order_id, product_id, name, unit_price_minor, quantity)",
                    [
                        (items.map(\.order), "uuid"), (items.map(\.item.product), "uuid"), (items.map(\.item.name), "text"),
                        (items.map(\.item.priceMinor), "bigint"), (items.map(\.item.quantity), "bigint"),
                    ])
            ).run()
            return
        }
        let rows = InsertRows(
            target: "orders (\(Self.columns.joined(separator: ", ")))",
            rows: orders.map {
                [
                    $0.id, $0.customer, $0.status.rawValue, $0.totalMinor, $0.createdAt, $0.updatedAt, $0.fulfilledAt, $0.fulfilmentNote,
                    $0.cancelReason,
                ]
            })
        try await sql.raw(rows.insert).run()
        let lines = InsertRows(
            target: "order_items (order_id, product_id, name, unit_price_minor, quantity)",
            rows: items.map { [$0.order, $0.item.product, $0.item.name, $0.item.priceMinor, $0.item.quantity] })
        try await sql.raw(lines.insert).run()
    }

    /// PostgreSQL's `INSERT INTO target SELECT * FROM unnest($1::type[], …)`: one bound array per column, in the
    /// target's column order, all of one length.
    private static func unnestedInsert(into target: String, _ columns: [(values: any Encodable & Sendable, type: String)])
        -> SQLQueryString
    {
        var statement: SQLQueryString = "INSERT INTO \(unsafeRaw: target) SELECT * FROM unnest("
        for (index, column) in columns.enumerated() {
            statement += "\(unsafeRaw: index == 0 ? "" : ", ")\(bind: column.values)::\(unsafeRaw: column.type)[]"
        }
        return statement + ")"
    }

    /// The order's row and lines, for a placement to insert (`OrderPlacement`).
    func rows(of order: Order) -> [InsertRows] {
        [
            InsertRows(
                target: "orders (id, customer_id, status, total_minor, created_at, updated_at)",
                rows: [[order.id, order.customer, order.status.rawValue, order.totalMinor, order.createdAt, order.updatedAt]]),
            InsertRows(
                target: "order_items (order_id, product_id, name, unit_price_minor, quantity)",
                rows: order.items.map { [order.id, $0.product, $0.name, $0.priceMinor, $0.quantity] }),
        ]
    }

    static let columns = [
        "id", "customer_id", "status", "total_minor", "created_at", "updated_at", "fulfilled_at", "fulfilment_note", "cancel_reason",
    ]

    /// Moves an order from `from` to `to` (only the customer's own when `customer` is given), recording when it was
    /// fulfilled and the staff note or reason; false when no such order is in `from`. One conditional `UPDATE`, so
    /// of racing transitions exactly one wins.
    func transition(
        _ id: UUID, customer: UUID?, from: Order.Status, to: Order.Status, at now: Date,
        note: String? = nil, reason: String? = nil, on sql: any SQLDatabase
    ) async throws -> Bool {
        let update = sql.update("orders").set("status", to: to.rawValue).set("updated_at", to: now)
            .where("id", .equal, id).where("status", .equal, from.rawValue)
        if to == .fulfilled { update.set("fulfilled_at", to: now).set("fulfilment_note", to: note) }
        if to == .cancelled, let reason { update.set("cancel_reason", to: reason) }
        if let customer { update.where("customer_id", .equal, customer) }
        return try await update.returning("id").all().count == 1
    }

    /// One order, only the customer's own when `customer` is given.
    func order(_ id: UUID, customer: UUID?, on sql: any SQLDatabase) async throws -> Order? {
        let query = sql.select().columns(Self.columns.map { SQLIdentifier($0) }).from("orders").where("id", .equal, id)
        if let customer { query.where("customer_id", .equal, customer) }
        guard let row = try await query.first() else { return nil }
        return try await withItems([row], on: sql).first
    }

    /// The orders `filter` matches, newest first.
    func orders(_ filter: OrderFilter, page: PageRequest) async throws -> (orders: [Order], count: Int) {
        try await database.read { sql in
            let count =
                try await Self.matching(filter, sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n").from("orders"))
                .first()?.decode(column: "n", as: Int.self) ?? 0
            let rows = try await Self.matching(filter, sql.select().columns(Self.columns.map { SQLIdentifier($0) }).from("orders"))
                .orderBy("created_at", .descending).orderBy("id", .descending)
                .limit(page.limit).offset(page.offset).all()
            return (try await withItems(rows, on: sql), count)
        }
    }

    /// A keyset page of the orders `filter` matches, newest first: up to `limit` orders older than the order `from`
    /// (or, `newer`, newer than it, returned newest first too), and whether more lie beyond them that way. A range
    /// of `(created_at, id)` on the index the filter picks, so the last page costs what the first does.
    func page(_ filter: OrderFilter, from position: UUID?, newer: Bool, limit: Int) async throws -> (orders: [Order], more: Bool) {
        try await database.read { sql in
            let query = Self.matching(filter, sql.select().columns(Self.columns.map { SQLIdentifier($0) }).from("orders"))
            if let position {
                let comparison = newer ? ">" : "<"
                let start: SQLQueryString = "(SELECT o.created_at, o.id FROM orders o WHERE o.id = \(bind: position))"
                query.where(SQLQueryString("(created_at, id) \(unsafeRaw: comparison) \(start)"))
            }
            let direction: SQLDirection = newer ? .ascending : .descending
            let rows = try await query.orderBy("created_at", direction).orderBy("id", direction).limit(limit + 1).all()
            var orders = try await withItems(Array(rows.prefix(limit)), on: sql)
            if newer { orders.reverse() }
            return (orders, rows.count > limit)
        }
    }

    /// Orders placed (not cancelled) and their revenue per UTC day from `start` until `end`, keyed by day number
    /// (days since 1970): one range read of `orders_created`, which carries the status and total (migration 15).
    func days(from start: Date, to end: Date) async throws -> [Int: (orders: Int, revenueMinor: Int)] {
        let day: SQLQueryString =
            switch database.engine {
            case .postgres: "floor(extract(epoch FROM created_at) / 86400)::bigint"
            case .sqlite: "CAST(created_at / 86400 AS INTEGER)"
            }
        return try await database.read { sql in
            let rows = try await sql.raw(
                """
                SELECT \(day) AS day, count(*) AS n, CAST(coalesce(sum(total_minor), 0) AS BIGINT) AS revenue FROM orders
                WHERE created_at >= \(bind: start) AND created_at < \(bind: end) AND status <> 'cancelled' GROUP BY 1
                """
            ).all()
            var days: [Int: (orders: Int, revenueMinor: Int)] = [:]
            for row in rows {
                days[try row.decode(column: "day", as: Int.self)] = (
                    try row.decode(column: "n", as: Int.self), try row.decode(column: "revenue", as: Int.self)
                )
            }
            return days
        }
    }

    /// How many orders `filter` matches, counting no further than `cap` (a list says "10,000+", never scans on).
    func count(_ filter: OrderFilter, cap: Int) async throws -> Int {
        try await database.read { sql in
            let matches = Self.matching(filter, sql.select().column(SQLLiteral.numeric("1"), as: "one").from("orders")).limit(cap)
            return try await sql.raw("SELECT count(*) AS n FROM (\(matches.query)) matches").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    private static func matching(_ filter: OrderFilter, _ query: SQLSelectBuilder) -> SQLSelectBuilder {
        if let customer = filter.customer { query.where("customer_id", .equal, customer) }
        if let status = filter.status { query.where("status", .equal, status.rawValue) }
        if let product = filter.product {
            query.where(SQLQueryString("id IN (SELECT order_id FROM order_items WHERE product_id = \(bind: product))"))
        }
        if let after = filter.createdAfter { query.where("created_at", .greaterThanOrEqual, after) }
        if let before = filter.createdBefore { query.where("created_at", .lessThan, before) }
        return query
    }

    private func withItems(_ rows: [any SQLRow], on sql: any SQLDatabase) async throws -> [Order] {
        guard !rows.isEmpty else { return [] }
        let ids = try rows.map { try $0.decode(column: "id", as: UUID.self) }
        var items: [UUID: [Order.Item]] = [:]
        for row in try await sql.select().columns("order_id", "product_id", "name", "unit_price_minor", "quantity").from("order_items")
            .where("order_id", .in, ids).orderBy("product_id").all()
        {
            items[try row.decode(column: "order_id", as: UUID.self), default: []].append(
                Order.Item(
                    product: try row.decode(column: "product_id", as: UUID.self),
                    name: try row.decode(column: "name", as: String.self),
                    quantity: try row.decode(column: "quantity", as: Int.self),
                    priceMinor: try row.decode(column: "unit_price_minor", as: Int.self)
                ))
        }
        return try rows.map { row in
            let id = try row.decode(column: "id", as: UUID.self)
            guard let status = Order.Status(rawValue: try row.decode(column: "status", as: String.self)) else {
                throw StockInvariantBroken(productID: id, operation: "unknown order status")
            }
            return Order(
                id: id, customer: try row.decode(column: "customer_id", as: UUID.self), status: status, items: items[id] ?? [],
                totalMinor: try row.decode(column: "total_minor", as: Int.self),
                createdAt: try row.decode(column: "created_at", as: Date.self),
                updatedAt: try row.decode(column: "updated_at", as: Date.self),
                fulfilledAt: try row.decode(column: "fulfilled_at", as: Date?.self),
                fulfilmentNote: try row.decode(column: "fulfilment_note", as: String?.self),
                cancelReason: try row.decode(column: "cancel_reason", as: String?.self)
            )
        }
    }
}
