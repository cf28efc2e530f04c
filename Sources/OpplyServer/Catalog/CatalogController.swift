import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The `/api/catalog/` routes: public cached reads with ETags, and staff writes.
struct CatalogController: Sendable {
    let catalog: CatalogService
    let identity: IdentityService
    let ttl: Duration
    let links: LinkBase

    private struct CategoryName: Decodable { let name: String }

    func addRoutes(to router: Router<AppRequestContext>) {
        let open = router.group("api/catalog")
        open.get("products", use: listProducts)
        open.get("products/:id", use: product)
        open.get("categories", use: categories)

        let staff = router.group("api/catalog").add(middleware: Authenticator(identity: identity)).group(context: StaffContext.self)
        staff.post("products", use: createProduct)
        staff.patch("products/:id", use: updateProduct)
        staff.delete("products/:id", use: archiveProduct)
        staff.post("products/:id/inventory", use: adjustStock)
        staff.patch("categories/:slug", use: renameCategory)
    }

    @Sendable func listProducts(_ request: Request, context: AppRequestContext) async throws -> Response {
        let query = try ProductQuery(from: request)
        let baseURL = links.base(for: request)
        if query.cursor != nil { return respond(try await catalog.cursorBody(query, baseURL: baseURL), to: request) }
        let cached = try await catalog.listBody(query, baseURL: baseURL) { products, count in
            let page = Page(
                results: products, count: count, page: query.page, url: baseURL + "/api/catalog/products/", filters: query.filters)
            return ByteBuffer(bytes: try JSONCoding.encoder.encode(page))
        }
        return respond(cached, to: request)
    }

    @Sendable func product(_ request: Request, context: AppRequestContext) async throws -> Response {
        respond(try await catalog.productBody(try context.uuid("id")), to: request)
    }

    @Sendable func categories(_ request: Request, context: AppRequestContext) async throws -> Response {
        respond(try await catalog.categoriesBody(), to: request)
    }

    @Sendable func createProduct(_ request: Request, context: StaffContext) async throws -> Response {
        let input = try await JSONCoding.decode(CatalogService.NewProduct.self, from: request, limit: .product)
        return try Response.json(try await catalog.create(input, staff: context.staff), status: .created)
    }

    @Sendable func updateProduct(_ request: Request, context: StaffContext) async throws -> Response {
        let changes = try await JSONCoding.decode(CatalogService.Changes.self, from: request, limit: .product)
        return try Response.json(try await catalog.update(try context.uuid("id"), with: changes, by: context.staff))
    }

    @Sendable func archiveProduct(_ request: Request, context: StaffContext) async throws -> Response {
        try await catalog.archive(try context.uuid("id"), by: context.staff)
        return Response(status: .noContent)
    }

    @Sendable func adjustStock(_ request: Request, context: StaffContext) async throws -> Response {
        let input = try await JSONCoding.decode(CatalogService.Adjustment.self, from: request)
        return try Response.json(try await catalog.adjust(try context.uuid("id"), with: input, staff: context.staff))
    }

    @Sendable func renameCategory(_ request: Request, context: StaffContext) async throws -> Response {
        let input = try await JSONCoding.decode(CategoryName.self, from: request)
        guard let slug = context.parameters.get("slug") else { throw AppError.notFound }
        return try Response.json(try await catalog.renameCategory(slug, to: input.name, by: context.staff))
    }

    /// A cached body with its ETag, or `304` when the client already has it.
    private func respond(_ cached: (body: ByteBuffer, etag: String), to request: Request) -> Response {
        var headers: HTTPFields = [.eTag: cached.etag, .cacheControl: "public, max-age=\(ttl.components.seconds)"]
        if let ifNoneMatch = request.headers[.ifNoneMatch], Self.matches(ifNoneMatch, etag: cached.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: cached.body))
    }

    static func matches(_ ifNoneMatch: String, etag: String) -> Bool {
        ifNoneMatch.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
