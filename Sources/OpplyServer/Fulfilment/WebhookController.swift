import Foundation
import Hummingbird

/// The staff `/api/admin/webhooks/` routes: webhook endpoints with their delivery logs.
struct WebhookController: Sendable {
    let webhooks: WebhookService
    let identity: IdentityService
    let links: LinkBase

    func addRoutes(to router: Router<AppRequestContext>) {
        let admin = router.group("api/admin").add(middleware: Authenticator(identity: identity)).group(context: StaffContext.self)
        admin.post("webhooks", use: createEndpoint)
        admin.get("webhooks", use: listEndpoints)
        admin.get("webhooks/:id", use: endpoint)
        admin.patch("webhooks/:id", use: updateEndpoint)
        admin.delete("webhooks/:id", use: deleteEndpoint)
        admin.post("webhooks/:id/rotate-secret", use: rotateSecret)
        admin.get("webhooks/:id/deliveries", use: listDeliveries)
        admin.post("webhooks/:id/deliveries/:delivery/retry", use: retryDelivery)
    }

    @Sendable func createEndpoint(_ request: Request, context: StaffContext) async throws -> Response {
        let input = try await JSONCoding.decode(WebhookService.NewEndpoint.self, from: request, limit: .webhook)
        return try Response.json(WebhookEndpointWithSecret(endpoint: try await webhooks.create(input, by: context.staff)), status: .created)
    }

    @Sendable func listEndpoints(_ request: Request, context: StaffContext) async throws -> Response {
        let page = try PageRequest(from: request)
        let (list, count) = try await webhooks.endpoints(page: page)
        return try Response.json(Page(results: list, count: count, page: page, request: request, links: links))
    }

    @Sendable func endpoint(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(try await webhooks.endpoint(try context.uuid("id")))
    }

    @Sendable func updateEndpoint(_ request: Request, context: StaffContext) async throws -> Response {
        let changes = try await JSONCoding.decode(WebhookService.Changes.self, from: request, limit: .webhook)
        return try Response.json(try await webhooks.update(try context.uuid("id"), with: changes, by: context.staff))
    }

    @Sendable func deleteEndpoint(_ request: Request, context: StaffContext) async throws -> Response {
        try await webhooks.delete(try context.uuid("id"), by: context.staff)
        return Response(status: .noContent)
    }

    @Sendable func rotateSecret(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(WebhookEndpointWithSecret(endpoint: try await webhooks.rotateSecret(try context.uuid("id"), by: context.staff)))
    }

    @Sendable func retryDelivery(_ request: Request, context: StaffContext) async throws -> Response {
        try Response.json(try await webhooks.retry(try context.uuid("delivery"), of: try context.uuid("id"), by: context.staff))
    }

    @Sendable func listDeliveries(_ request: Request, context: StaffContext) async throws -> Response {
        let page = try PageRequest(from: request)
        var status: WebhookDelivery.Status?
        if let raw = request.uri.queryParameters["status"] {
            guard let parsed = WebhookDelivery.Status(rawValue: String(raw)) else {
                throw AppError.validation(field: "status", "Must be pending, delivered or dead.")
            }
            status = parsed
        }
        let (list, count) = try await webhooks.deliveries(of: try context.uuid("id"), status: status, page: page)
        return try Response.json(Page(results: list, count: count, page: page, request: request, links: links))
    }
}
