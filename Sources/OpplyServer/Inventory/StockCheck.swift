public import Foundation
import SQLKit

/// Verifies the stock invariants over the whole database (`opply check`, and the tests after every
/// concurrency test):
/// 1. `0 <= reserved <= on_hand`;
/// 2. `reserved` equals the units held by cart lines;
/// 3. `on_hand` plus the units taken by orders that were not cancelled equals the sum of audited adjustments.
public struct StockCheck: Sendable {
    public struct Violation: Sendable, CustomStringConvertible {
        public let productID: UUID
        public let rule: String
        public var description: String { "product \(productID.uuidString.lowercased()): \(rule)" }
    }

    let database: any Database

    public func run() async throws -> [Violation] {
        try await database.read { sql in
            let rows = try await sql.raw(
                """
                SELECT p.id, p.on_hand, p.reserved,
                    (SELECT CAST(COALESCE(SUM(c.quantity), 0) AS BIGINT) FROM cart_lines c
                     WHERE c.product_id = p.id AND c.held = \(bind: true)) AS held,
                    (SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) FROM order_items i JOIN orders o ON o.id = i.order_id
                        WHERE i.product_id = p.id AND o.status <> 'cancelled') AS sold,
                    (SELECT CAST(COALESCE(SUM(a.delta), 0) AS BIGINT) FROM inventory_adjustments a WHERE a.product_id = p.id) AS adjusted
                FROM products p
                """
            ).all()
            var violations: [Violation] = []
            for row in rows {
                let id = try row.decode(column: "id", as: UUID.self)
                let onHand = try row.decode(column: "on_hand", as: Int.self)
                let reserved = try row.decode(column: "reserved", as: Int.self)
                let held = try row.decode(column: "held", as: Int.self)
                let sold = try row.decode(column: "sold", as: Int.self)
                let adjusted = try row.decode(column: "adjusted", as: Int.self)
                if reserved < 0 || reserved > onHand {
                    violations.append(Violation(productID: id, rule: "reserved \(reserved) is outside 0...on_hand \(onHand)"))
                }
                if reserved != held {
                    violations.append(Violation(productID: id, rule: "reserved \(reserved) but cart lines hold \(held)"))
                }
                if onHand + sold != adjusted {
                    violations.append(Violation(productID: id, rule: "on_hand \(onHand) + sold \(sold) != adjustments \(adjusted)"))
                }
            }
            return violations
        }
    }
}

extension Shop {
    public var stockCheck: StockCheck { StockCheck(database: database) }
}
