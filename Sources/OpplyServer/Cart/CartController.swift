import Foundation
import Hummingbird

/// The `/api/cart/` routes: view, add, set, remove, empty, checkout (with `Idempotency-Key`).
struct CartController: Sendable {
    let cart: CartService
    let keys: IdempotentResponder
    let identity: IdentityService

    func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group("api/cart").add(middleware: Authenticator(identity: identity)).group(context: CustomerContext.self)
        group.get(use: view)
        group.delete(use: empty)
        group.post("items", use: add)
        group.patch("items/:product", use: set)
        group.delete("items/:product", use: remove)
        group.post("checkout", use: checkout)
    }

    @Sendable func view(_ request: Request, context: CustomerContext) async throws -> Response {
        try Response.json(try await cart.cart(of: context.customer.id))
    }

    @Sendable func empty(_ request: Request, context: CustomerContext) async throws -> Response {
        try await cart.remove(nil, for: context.customer.id)
        return Response(status: .noContent)
    }

    @Sendable func add(_ request: Request, context: CustomerContext) async throws -> Response {
        let item = try await JSONCoding.decode(CartService.AddItem.self, from: request)
        return try Response.json(try await cart.add(item, for: context.customer.id))
    }

    @Sendable func set(_ request: Request, context: CustomerContext) async throws -> Response {
        let input = try await JSONCoding.decode(CartService.SetQuantity.self, from: request)
        return try Response.json(try await cart.set(try context.uuid("product"), to: input.quantity, for: context.customer.id))
    }

    @Sendable func remove(_ request: Request, context: CustomerContext) async throws -> Response {
        try await cart.remove(try context.uuid("product"), for: context.customer.id)
        return Response(status: .noContent)
    }

    @Sendable func checkout(_ request: Request, context: CustomerContext) async throws -> Response {
        try await keys.createOrder(request, customer: context.customer.id) { _, answer in
            try await cart.checkout(for: context.customer.id, storing: answer)
        }
    }
}
