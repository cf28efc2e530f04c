import Foundation
import Hummingbird

/// The `/api/identity/` routes: HTTP in, one `IdentityService` call, JSON out.
struct IdentityController: Sendable {
    let identity: IdentityService
    let trustProxy: Bool
    let links: LinkBase

    private struct Credentials: Decodable {
        let username: String
        let password: String
    }
    private struct RefreshBody: Decodable { let refresh: String }
    private struct TokenBody: Decodable { let token: String }
    private struct Empty: Encodable {}

    func addRoutes(to router: Router<AppRequestContext>) {
        let open = router.group("api/identity")
        open.post("register", use: register)
        open.post("token", use: login)
        open.post("token/refresh", use: refresh)
        open.post("token/verify", use: verify)

        let signedIn = router.group("api/identity").add(middleware: Authenticator(identity: identity)).group(context: CustomerContext.self)
        signedIn.post("logout", use: logout)
        signedIn.get("me", use: me)
        signedIn.get("customers", use: customers)
        signedIn.get("customers/:id", use: customer)
        signedIn.patch("customers/:id", use: updateCustomer)
        signedIn.delete("customers/:id", use: closeAccount)
    }

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await JSONCoding.decode(IdentityService.Registration.self, from: request)
        let client = context.clientAddress(of: request, trustProxy: trustProxy)
        return try Response.json(try await identity.register(input, client: client), status: .created)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await JSONCoding.decode(Credentials.self, from: request)
        let client = context.clientAddress(of: request, trustProxy: trustProxy)
        return try Response.json(try await identity.login(username: input.username, password: input.password, client: client))
    }

    @Sendable func refresh(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await JSONCoding.decode(RefreshBody.self, from: request)
        return try Response.json(try await identity.refresh(input.refresh))
    }

    @Sendable func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await JSONCoding.decode(TokenBody.self, from: request)
        try await identity.verify(input.token)
        return try Response.json(Empty())
    }

    @Sendable func logout(_ request: Request, context: CustomerContext) async throws -> Response {
        let input = try await JSONCoding.decode(RefreshBody.self, from: request)
        try await identity.logout(refresh: input.refresh, caller: context.customer)
        return Response(status: .noContent)
    }

    @Sendable func me(_ request: Request, context: CustomerContext) async throws -> Response {
        try Response.json(context.customer)
    }

    @Sendable func customers(_ request: Request, context: CustomerContext) async throws -> Response {
        let page = try PageRequest(from: request)
        let (customers, count) = try await identity.list(caller: context.customer, page: page)
        return try Response.json(Page(results: customers, count: count, page: page, request: request, links: links))
    }

    @Sendable func customer(_ request: Request, context: CustomerContext) async throws -> Response {
        try Response.json(try await identity.customer(try context.uuid("id"), caller: context.customer))
    }

    @Sendable func updateCustomer(_ request: Request, context: CustomerContext) async throws -> Response {
        let changes = try await JSONCoding.decode(IdentityService.Changes.self, from: request)
        return try Response.json(try await identity.update(try context.uuid("id"), with: changes, caller: context.customer))
    }

    @Sendable func closeAccount(_ request: Request, context: CustomerContext) async throws -> Response {
        try await identity.delete(try context.uuid("id"), caller: context.customer)
        return Response(status: .noContent)
    }
}
