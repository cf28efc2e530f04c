import Foundation
import SQLKit

/// A placed order as its customer sees it: lines priced at order time, total in integer minor units.
struct Order: Encodable, Sendable {
    enum Status: String, Codable, Sendable { case confirmed, fulfilled, cancelled }

    /// A priced line, `{product, name, quantity, price, line_total}`; carts show the same shape.
    struct Item: Encodable, Sendable {
        let product: UUID
        let name: String
        let quantity: Int
        let priceMinor: Int

        /// The line's price: unit price times quantity, in minor units.
        var lineTotalMinor: Int { priceMinor * quantity }

        private enum CodingKeys: String, CodingKey { case product, name, quantity, price, lineTotal }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(product.uuidString.lowercased(), forKey: .product)
            try container.encode(name, forKey: .name)
            try container.encode(quantity, forKey: .quantity)
            try container.encode(Money.format(priceMinor), forKey: .price)
            try container.encode(Money.format(lineTotalMinor), forKey: .lineTotal)
        }
    }

    let id: UUID
    let customer: UUID
    var status: Status
    let items: [Item]
    let totalMinor: Int
    let createdAt: Date
    var updatedAt: Date
    var fulfilledAt: Date? = nil
    /// What staff wrote when fulfilling, and why staff cancelled; shown on the order desk only.
    var fulfilmentNote: String? = nil
    var cancelReason: String? = nil

    private enum CodingKeys: String, CodingKey { case id, customer, status, orderItems, total, currency, createdAt, updatedAt, fulfilledAt }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.uuidString.lowercased(), forKey: .id)
        try container.encode(customer.uuidString.lowercased(), forKey: .customer)
        try container.encode(status, forKey: .status)
        try container.encode(items, forKey: .orderItems)
        try container.encode(Money.format(totalMinor), forKey: .total)
        try container.encode(Money.currency, forKey: .currency)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(fulfilledAt, forKey: .fulfilledAt)
    }
}

extension [Order.Item] {
    /// What the lines cost together: the one sum behind an order's and a cart's total.
    var totalMinor: Int { reduce(0) { $0 + $1.lineTotalMinor } }
}

/// Which orders a list shows: one customer's history, or the staff order desk's filters.
struct OrderFilter: Sendable, Equatable {
    var customer: UUID?
    var status: Order.Status?
    var product: UUID?
    var createdAfter: Date?
    var createdBefore: Date?
}

/// One line a customer asks for: which product and how many.
struct OrderLine: Sendable, Equatable {
    let product: UUID
    var quantity: Int
    /// Where the line came from in the request, for naming it in errors (`order_items[1].quantity`).
    var field: String
    /// True when the units are already reserved by this customer's cart (checkout), false for a direct order.
    var reserved = false
}
