import Foundation
import SQLKit

/// What other areas need from carts when something leaves the shop, inside their own transaction: a closed account's
/// cart is emptied (Identity), an archived product is taken out of every cart (Catalog). Either way the stock the
/// lines held is released.
protocol CartReleaser: Sendable {
    /// Empties a customer's cart (the account is being closed).
    func empty(for customer: UUID, on sql: any SQLDatabase) async throws
    /// Drops a product from every cart (it is being archived).
    func dropProduct(_ product: UUID, on sql: any SQLDatabase) async throws
}

extension CartService: CartReleaser {}
