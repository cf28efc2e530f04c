import Foundation
import Hummingbird

/// The `/api/identity/` routes: HTTP in, one `IdentityService` call, JSON out.
struct IdentityController: Sendable {
    let identity: IdentityService
    let trustProxy: Bool

    private struct Credentials: Decodable { let username: String; let password: String }
    private struct RefreshBody: Decodable { let refresh: String }
    private struct TokenBody: Decodable { let token: String }
    private struct Empty: Encodable {}

    func addRoutes(to router: Router<AppRequestContext>) {
        let open = router.group("api/identity")
        open.post("register") { request, _ in
            let input = try await JSONCoding.decode(IdentityService.Registration.self, from: request)
            return try Response.json(try await identity.register(input), status: .created)
        }
        open.post("token") { request, context in
            let input = try await JSONCoding.decode(Credentials.self, from: request)
            return try Response.json(try await identity.login(username: input.username, password: input.password, client: context.clientAddress(of: request, trustProxy: trustProxy)))
        }
        open.post("token/refresh") { request, _ in
            let input = try await JSONCoding.decode(RefreshBody.self, from: request)
            return try Response.json(try await identity.refresh(input.refresh))
        }
        open.post("token/verify") { request, _ in
            let input = try await JSONCoding.decode(TokenBody.self, from: request)
            try await identity.verify(input.token)
            return try Response.json(Empty())
        }

        let signedIn = router.group("api/identity").add(middleware: Authenticator(identity: identity)).group(context: CustomerContext.self)
        signedIn.post("logout") { request, context in
            let input = try await JSONCoding.decode(RefreshBody.self, from: request)
            try await identity.logout(refresh: input.refresh, caller: context.customer)
            return Response(status: .noContent)
        }
        signedIn.get("me") { _, context in
            try Response.json(context.customer)
        }
        signedIn.get("customers") { request, context in
            let page = try PageRequest(from: request)
            let (customers, count) = try await identity.list(caller: context.customer, page: page)
            return try Response.json(Page(results: customers, count: count, page: page, request: request))
        }
        signedIn.get("customers/:id") { _, context in
            try Response.json(try await identity.customer(try context.uuid("id"), caller: context.customer))
        }
        signedIn.patch("customers/:id") { request, context in
            let changes = try await JSONCoding.decode(IdentityService.Changes.self, from: request)
            return try Response.json(try await identity.update(try context.uuid("id"), with: changes, caller: context.customer))
        }
        signedIn.delete("customers/:id") { _, context in
            try await identity.delete(try context.uuid("id"), caller: context.customer)
            return Response(status: .noContent)
        }
    }
}

extension RequestContext {
    /// A UUID path parameter; anything else names no resource, so `404`.
    func uuid(_ name: String) throws -> UUID {
        guard let raw = parameters.get(name), let id = UUID(uuidString: raw) else { throw AppError.notFound }
        return id
    }
}
