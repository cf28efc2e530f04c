import Foundation
import Hummingbird

/// The order desk for staff through the API (`/api/admin/orders/`): every order with who placed it, fulfilment and
/// staff cancellation, through `OrderDesk`.
struct OrderDeskController: Sendable {
    let desk: OrderDesk
    let identity: IdentityService
    let links: LinkBase

    private struct Fulfilment: Decodable { let note: String? }
    private struct Cancellation: Decodable { let reason: String }

    func addRoutes(to router: Router<AppRequestContext>) {
        let admin = router.group("api/admin/orders").add(middleware: Authenticator(identity: identity)).group(context: StaffContext.self)
        admin.get(use: list)
        admin.get(":id", use: order)
        admin.post(":id/fulfil", use: fulfil)
        admin.post(":id/cancel", use: cancel)
    }

    @Sendable func list(_ request: Request, context: StaffContext) async throws -> Response {
        let page = try PageRequest(from: request)
        let (list, count) = try await desk.orders(try OrderFilter(query: request.uri.queryParameters), page: page)
        return try Response.json(Page(results: list, count: count, page: page, request: request, links: links))
    }

    @Sendable func fulfil(_ request: Request, context: StaffContext) async throws -> Response {
        let body = try await JSONCoding.body(of: request)
        let note = body.readableBytes == 0 ? nil : try JSONCoding.decode(Fulfilment.self, from: body).note
        return try Response.json(try await desk.fulfil(try context.uuid("id"), note: note, by: context.staff))
    }

    @Sendable func cancel(_ request: Request, context: StaffContext) async throws -> Response {
        let reason = try await JSONCoding.decode(Cancellation.self, from: request).reason
        return try Response.json(try await desk.cancel(try context.uuid("id"), reason: reason, by: context.staff))
    }

    @Sendable func order(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(try await desk.order(try context.uuid("id")))
    }
}
