import Foundation
import HTTPTypes

/// The staff side of orders (the order desk): every customer's orders with who placed them, fulfilment, and staff cancellation. The
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

    /// A keyset page of the desk, newest first, with who placed each order.
    func orders(_ filter: OrderFilter, from position: UUID?, newer: Bool, limit: Int) async throws -> (orders: [DeskOrder], more: Bool) {
        let (list, more) = try await orders.orders(filter, from: position, newer: newer, limit: limit)
        let names = try await identity.usernames(of: Array(Set(list.map(\.customer))))
        return (list.map { DeskOrder(order: $0, customerUsername: names[$0.customer]) }, more)
    }

    /// Orders (not cancelled) and revenue per UTC day in `start..<end`, keyed by day number (days since 1970).
    func days(from start: Date, to end: Date) async throws -> [Int: (orders: Int, revenueMinor: Int)] {
        try await orders.store.days(from: start, to: end)
    }

    /// How many orders `filter` matches, counted no further than `cap`.
    func count(_ filter: OrderFilter, cap: Int) async throws -> Int {
        try await orders.count(filter, cap: cap)
    }

    /// Fulfils each order on its own (one conditional change each): the ones fulfilled, and why each other was not.
    func fulfil(_ ids: [UUID], by staff: Customer) async throws -> (fulfilled: [UUID], refused: [(id: UUID, reason: String)]) {
        var fulfilled: [UUID] = []
        var refused: [(id: UUID, reason: String)] = []
        for id in ids {
            do {
                _ = try await orders.fulfil(id, note: nil, by: staff)
                fulfilled.append(id)
            } catch let error as AppError where error.status == .conflict || error.status == .notFound {
                refused.append((id, error.detail ?? error.title))
            }
        }
        return (fulfilled, refused)
    }

    func order(_ id: UUID) async throws -> DeskOrder {
        try await desk(try await orders.order(id, customer: nil))
    }

    /// `confirmed` → `fulfilled`, with an optional note of at most 500 characters; anything but a confirmed order is
    /// `409 order_not_fulfillable`.
    func fulfil(_ id: UUID, note: String?, by staff: Customer) async throws -> DeskOrder {
        if let note, note.count > 500 { throw AppError.validation(field: "note", "Keep the note to 500 characters.") }
        return try await desk(try await orders.fulfil(id, note: note, by: staff))
    }

    /// A staff cancel of a confirmed order, saying why (1 to 500 characters): stock back once, the reason kept.
    func cancel(_ id: UUID, reason: String, by staff: Customer) async throws -> DeskOrder {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...500).contains(reason.count) else {
            throw AppError.validation(field: "reason", "Say why the order is cancelled, in 1 to 500 characters.")
        }
        return try await desk(try await orders.cancel(id, customer: nil, reason: reason, by: staff))
    }

    private func desk(_ order: Order) async throws -> DeskOrder {
        DeskOrder(order: order, customerUsername: try await identity.usernames(of: [order.customer])[order.customer])
    }
}
