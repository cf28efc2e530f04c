import Foundation
import SQLKit

/// A customer's cart as the app shows it: current catalog prices, line totals, and when the reservations lapse.
struct Cart: Encodable, Sendable {
    /// A line at the current catalog price; the same shape as an order's line.
    typealias Item = Order.Item

    let items: [Item]
    /// When the cart's reservations lapse (in the past once they have); null for an empty cart.
    let expiresAt: Date?

    private enum CodingKeys: String, CodingKey { case items, total, currency, expiresAt }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(Money.format(items.totalMinor), forKey: .total)
        try container.encode(Money.currency, forKey: .currency)
        try container.encode(expiresAt, forKey: .expiresAt)
    }
}

/// A cart line taken out of the cart (removed, emptied, checked out or swept): what it held.
struct ClaimedLine: Sendable {
    let product: UUID
    let quantity: Int
    /// True while the line's units are reserved; false once the sweeper released them.
    let held: Bool
    /// When its current reservation began (nil for a line from before this was kept): it ends `CART_MAX_HOLD` later
    /// at the latest, however often the cart is touched.
    var heldSince: Date? = nil
}
