import Foundation

/// The staff side of orders: every customer's orders with who placed them, fulfilment, and staff cancellation. The
/// rules themselves (one conditional status change, stock back exactly once, the outbox event) live in `OrderService`.
struct OrderDesk: Sendable {
    let orders: OrderService
    let identity: IdentityService

    /// An order as staff see it: the customer's view plus who placed it and the staff notes.
    struct DeskOrder: Encodable, Sendable {
        let order: Order
        let customerUsername: String?

        private enum CodingKeys: String, CodingKey { case customerUsername, fulfilmentNote, cancelReason }
        func encode(to encoder: any Encoder) throws {
            try order.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(customerUsername, forKey: .customerUsername)
            try container.encode(order.fulfilmentNote, forKey: .fulfilmentNote)
            try container.encode(order.cancelReason, forKey: .cancelReason)
        }
    }

    func orders(_ filter: OrderFilter, page: PageRequest) async throws -> (orders: [DeskOrder], count: Int) {
        let (list, count) = try await orders.orders(filter, page: page)
        let names = try await identity.usernames(of: Array(Set(list.map(\.customer))))
        return (list.map { DeskOrder(order: $0, customerUsername: names[$0.customer]) }, count)
    }

    func order(_ id: UUID) async throws -> DeskOrder {
        try await desk(try await orders.order(id, customer: nil))
    }

    /// `confirmed` → `fulfilled`; anything else is `409 order_not_fulfillable`.
    func fulfil(_ id: UUID, note: String?) async throws -> DeskOrder {
        try await desk(try await orders.fulfil(id, note: note))
    }

    /// A staff cancel of a confirmed order: stock back once, the reason kept.
    func cancel(_ id: UUID, reason: String) async throws -> DeskOrder {
        try await desk(try await orders.cancel(id, customer: nil, reason: reason))
    }

    private func desk(_ order: Order) async throws -> DeskOrder {
        DeskOrder(order: order, customerUsername: try await identity.usernames(of: [order.customer])[order.customer])
    }
}
