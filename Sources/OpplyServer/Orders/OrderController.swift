import Foundation
import Hummingbird

/// The `/api/orders/orders/` routes: place (with `Idempotency-Key`), history, detail, cancel.
struct OrderController: Sendable {
    let orders: OrderService
    let keys: IdempotencyKeys
    let identity: IdentityService

    func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group("api/orders/orders").add(middleware: Authenticator(identity: identity)).group(context: CustomerContext.self)
        group.post { request, context in
            let body = try await JSONCoding.body(of: request)
            let customer = context.customer.id
            return try await keys.run(request, customer: customer, body: Data(body.readableBytesView)) { claim in
                let lines = try orders.lines(from: try JSONCoding.decode(OrderService.PlaceOrder.self, from: body))
                var encoded = Data()
                _ = try await orders.place(lines, for: customer) { order, sql in
                    encoded = try JSONCoding.encoder.encode(order)
                    if let claim { try await keys.complete(claim, status: 201, body: String(decoding: encoded, as: UTF8.self), on: sql) }
                }
                return (.created, encoded)
            }
        }
        group.get { request, context in
            let page = try PageRequest(from: request)
            let (list, count) = try await orders.orders(customer: context.customer.id, page: page)
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
