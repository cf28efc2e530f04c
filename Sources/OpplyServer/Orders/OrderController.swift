import Foundation
import Hummingbird

/// The `/api/orders/orders/` routes: place (with `Idempotency-Key`), history, detail, cancel.
struct OrderController: Sendable {
    let orders: OrderService
    let keys: IdempotentResponder
    let identity: IdentityService

    func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group("api/orders/orders").add(middleware: Authenticator(identity: identity)).group(context: CustomerContext.self)
        group.post { request, context in
            try await keys.createOrder(request, customer: context.customer.id) { body, inTransaction in
                let lines = try orders.lines(from: try JSONCoding.decode(OrderService.PlaceOrder.self, from: body))
                _ = try await orders.place(lines, for: context.customer.id, then: inTransaction)
            }
        }
        group.get { request, context in
            let page = try PageRequest(from: request)
            let (list, count) = try await orders.orders(OrderFilter(customer: context.customer.id), page: page)
            return try Response.json(Page(results: list, count: count, page: page, request: request))
        }
        group.get(":id") { _, context in
            try Response.json(try await orders.order(try context.uuid("id"), customer: context.customer.id))
        }
        group.post(":id/cancel") { _, context in
            try Response.json(try await orders.cancel(try context.uuid("id"), customer: context.customer.id))
        }
    }
}
