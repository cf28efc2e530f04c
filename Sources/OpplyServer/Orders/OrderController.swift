import Foundation
import Hummingbird

/// The `/api/orders/orders/` routes: place (with `Idempotency-Key`), history, detail, cancel.
struct OrderController: Sendable {
    let orders: OrderService
    let keys: IdempotentResponder
    let identity: IdentityService
    let links: LinkBase

    func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group("api/orders/orders").add(middleware: Authenticator(identity: identity)).group(
            context: CustomerContext.self)
        group.post(use: place)
        group.get(use: history)
        group.get(":id", use: order)
        group.post(":id/cancel", use: cancel)
    }

    @Sendable func place(_ request: Request, context: CustomerContext) async throws -> Response {
        try await keys.createOrder(request, customer: context.customer.id) { body, answer in
            let lines = try orders.lines(from: try JSONCoding.decode(OrderService.PlaceOrder.self, from: body))
            return try await orders.place(lines, for: context.customer.id, storing: answer)
        }
    }

    @Sendable func history(_ request: Request, context: CustomerContext) async throws -> Response {
        let page = try PageRequest(from: request)
        let (list, count) = try await orders.orders(OrderFilter(customer: context.customer.id), page: page)
        return try Response.json(Page(results: list, count: count, page: page, request: request, links: links))
    }

    @Sendable func order(_ request: Request, context: CustomerContext) async throws -> Response {
        try Response.json(try await orders.order(try context.uuid("id"), customer: context.customer.id))
    }

    @Sendable func cancel(_ request: Request, context: CustomerContext) async throws -> Response {
        try Response.json(try await orders.cancel(try context.uuid("id"), customer: context.customer.id))
    }
}
