import Foundation
import SQLKit

/// A product as the catalog shows it. `quantity` is what a customer can still order now:
/// stock on hand minus what carts hold.
struct Product: Encodable, Sendable {
    let id: UUID
    var name: String
    var description: String
    var priceMinor: Int
    var category: String?
    var quantity: Int
    let createdAt: Date
    var updatedAt: Date

    static let columns: [any SQLExpression] = [
        SQLColumn("id"), SQLColumn("name"), SQLColumn("description"), SQLColumn("price_minor"), SQLColumn("category"),
        SQLAlias(Inventory.availableExpression, as: SQLIdentifier("quantity")),
        SQLColumn("created_at"), SQLColumn("updated_at"),
    ]

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        name = try row.decode(column: "name", as: String.self)
        description = try row.decode(column: "description", as: String.self)
        priceMinor = try row.decode(column: "price_minor", as: Int.self)
        category = try row.decode(column: "category", as: String?.self)
        quantity = try row.decode(column: "quantity", as: Int.self)
        createdAt = try row.decode(column: "created_at", as: Date.self)
        updatedAt = try row.decode(column: "updated_at", as: Date.self)
    }

    private enum CodingKeys: String, CodingKey {
        case id, name, description, price, currency, quantity, category, createdAt, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.uuidString.lowercased(), forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(description, forKey: .description)
        try container.encode(Money.format(priceMinor), forKey: .price)
        try container.encode(Money.currency, forKey: .currency)
        try container.encode(quantity, forKey: .quantity)
        try container.encode(category, forKey: .category)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }

    /// The lower-cased text `search` matches against (Swift lower-cases all of Unicode the same on both engines).
    static func searchText(name: String, description: String) -> String {
        (name + "\n" + description).lowercased()
    }

    /// The search text when it is short enough to ride in `products_live_name` beside the name (an index row holds
    /// about 2,700 bytes on PostgreSQL), else nil: a long description is then searched in the table.
    static func searchShort(name: String, description: String) -> String? {
        let text = searchText(name: name, description: description)
        return text.utf8.count <= maxIndexedText ? text : nil
    }

    static let maxIndexedText = 1_800
}

/// A product category: a slug shoppers filter by, and a display name staff may change.
struct Category: Encodable, Sendable {
    let slug: String
    let name: String
    let productCount: Int

    static func isValidSlug(_ slug: String) -> Bool {
        (1...64).contains(slug.count) && slug.allSatisfy { ("a"..."z").contains($0) || $0.isASCIIDigit || $0 == "-" }
    }

    /// "plant-milks" → "Plant milks".
    static func name(fromSlug slug: String) -> String {
        let words = slug.split(separator: "-").joined(separator: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }
}
