import Foundation
import Hummingbird

/// The `/api/cart/` routes: view, add, set, remove, empty, checkout (with `Idempotency-Key`).
struct CartController: Sendable {
    let cart: CartService
    let keys: IdempotentResponder
    let identity: IdentityService

    func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group("api/cart").add(middleware: Authenticator(identity: identity)).group(context: CustomerContext.self)
        group.get { _, context in
            try Response.json(try await cart.cart(of: context.customer.id))
        }
        group.delete { _, context in
            try await cart.remove(nil, for: context.customer.id)
            return Response(status: .noContent)
        }
        group.post("items") { request, context in
            let item = try await JSONCoding.decode(CartService.AddItem.self, from: request)
            return try Response.json(try await cart.add(item, for: context.customer.id))
        }
        group.patch("items/:product") { request, context in
            let input = try await JSONCoding.decode(CartService.SetQuantity.self, from: request)
            return try Response.json(try await cart.set(try context.uuid("product"), to: input.quantity, for: context.customer.id))
        }
        group.delete("items/:product") { _, context in
            try await cart.remove(try context.uuid("product"), for: context.customer.id)
            return Response(status: .noContent)
        }
        group.post("checkout") { request, context in
            try await keys.createOrder(request, customer: context.customer.id) { _, inTransaction in
                _ = try await cart.checkout(for: context.customer.id, then: inTransaction)
            }
        }
    }
}
