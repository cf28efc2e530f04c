import Foundation
import SQLKit

/// The SQL of orders: `orders`, `order_items`, and the `outbox` events written with them.
struct OrderStore: Sendable {
    let database: any Database

    /// Name, price and whether it can be ordered, for each product asked for.
    func catalogEntries(_ ids: [UUID], on sql: any SQLDatabase) async throws -> [UUID: (name: String, priceMinor: Int, archived: Bool)] {
        let rows = try await sql.select().columns("id", "name", "price_minor", "archived_at").from("products").where("id", .in, ids).all()
        var result: [UUID: (name: String, priceMinor: Int, archived: Bool)] = [:]
        for row in rows {
            result[try row.decode(column: "id", as: UUID.self)] = (
                try row.decode(column: "name", as: String.self),
                try row.decode(column: "price_minor", as: Int.self),
                try row.decode(column: "archived_at", as: Date?.self) != nil
            )
        }
        return result
    }

    func insert(_ order: Order, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "orders").columns("id", "customer_id", "status", "total_minor", "created_at", "updated_at")
            .values(SQLBind(order.id), SQLBind(order.customer), SQLBind(order.status.rawValue), SQLBind(order.totalMinor), SQLBind(order.createdAt), SQLBind(order.updatedAt))
            .run()
        var items = sql.insert(into: "order_items").columns("order_id", "product_id", "name", "unit_price_minor", "quantity")
        for item in order.items {
            items = items.values(SQLBind(order.id), SQLBind(item.product), SQLBind(item.name), SQLBind(item.priceMinor), SQLBind(item.quantity))
        }
        try await items.run()
    }

    /// Writes an event in the caller's transaction, so it exists exactly when the change it describes does.
    func recordEvent(_ topic: String, order: Order, at now: Date, on sql: any SQLDatabase) async throws {
        let payload = try JSONCoding.encoder.encode(OrderEvent(event: topic, order: order))
        try await sql.insert(into: "outbox").columns("id", "topic", "payload", "created_at", "attempts")
            .values(SQLBind(UUID()), SQLBind(topic), SQLBind(String(decoding: payload, as: UTF8.self)), SQLBind(now), SQLLiteral.numeric("0"))
            .run()
    }

    private struct OrderEvent: Encodable {
        let event: String
        let order: Order
    }

    /// Moves a customer's order from `from` to `to`; nil when it is not theirs or not in `from`.
    func transition(_ id: UUID, customer: UUID, from: Order.Status, to: Order.Status, at now: Date, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.update("orders").set("status", to: to.rawValue).set("updated_at", to: now)
            .where("id", .equal, id).where("customer_id", .equal, customer).where("status", .equal, from.rawValue)
            .returning("id").all().count == 1
    }

    func order(_ id: UUID, customer: UUID, on sql: any SQLDatabase) async throws -> Order? {
        guard let row = try await sql.select().columns("id", "customer_id", "status", "total_minor", "created_at", "updated_at")
            .from("orders").where("id", .equal, id).where("customer_id", .equal, customer).first()
        else { return nil }
        return try await withItems([row], on: sql).first
    }

    func orders(customer: UUID, page: PageRequest) async throws -> (orders: [Order], count: Int) {
        try await database.read { sql in
            let count = try await sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n").from("orders")
                .where("customer_id", .equal, customer).first()?.decode(column: "n", as: Int.self) ?? 0
            let rows = try await sql.select().columns("id", "customer_id", "status", "total_minor", "created_at", "updated_at")
                .from("orders").where("customer_id", .equal, customer)
                .orderBy("created_at", .descending).orderBy("id", .descending)
                .limit(page.limit).offset(page.offset).all()
            return (try await withItems(rows, on: sql), count)
        }
    }

    private func withItems(_ rows: [any SQLRow], on sql: any SQLDatabase) async throws -> [Order] {
        guard !rows.isEmpty else { return [] }
        let ids = try rows.map { try $0.decode(column: "id", as: UUID.self) }
        var items: [UUID: [Order.Item]] = [:]
        for row in try await sql.select().columns("order_id", "product_id", "name", "unit_price_minor", "quantity").from("order_items")
            .where("order_id", .in, ids).orderBy("product_id").all() {
            items[try row.decode(column: "order_id", as: UUID.self), default: []].append(Order.Item(
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
                createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self)
            )
        }
    }
}
