import Foundation
import Hummingbird

/// `GET /api/admin/audit/`: the staff audit trail for staff through the API, newest first, with the back office's
/// filters (`staff` username, `kind`, `record` id).
struct AuditController: Sendable {
    let audit: AuditTrail
    let identity: IdentityService
    let links: LinkBase

    func addRoutes(to router: Router<AppRequestContext>) {
        router.group("api/admin/audit").add(middleware: Authenticator(identity: identity)).group(context: StaffContext.self)
            .get(use: list)
    }

    @Sendable func list(_ request: Request, context: StaffContext) async throws -> Response {
        let page = try PageRequest(from: request)
        let query = request.uri.queryParameters
        let text = { (name: String) in query[Substring(name)].map(String.init) ?? "" }
        if query["kind"] != nil, text("kind").isEmpty { throw AppError.validation(field: "kind", "Choose a kind, or leave `kind` out.") }
        guard let filter = try await Self.filter(text, identity: identity) else {
            return try Response.json(Page<StaffAction>(results: [], count: 0, page: page, request: request, links: links))
        }
        let (actions, count) = try await audit.list(filter, page: page)
        return try Response.json(Page(results: actions, count: count, page: page, request: request, links: links))
    }

    /// The filters from a query, shared with the back office's page: nil when the staff member named has no account
    /// (nothing can match); `400` for an unknown kind.
    static func filter(_ text: (String) -> String, identity: IdentityService) async throws -> AuditTrail.Filter? {
        var filter = AuditTrail.Filter()
        let kind = text("kind").trimmingCharacters(in: .whitespaces)
        if !kind.isEmpty {
            guard let known = StaffAction.Kind(rawValue: kind) else {
                let kinds = StaffAction.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw AppError.validation(field: "kind", "Choose one of \(kinds).")
            }
            filter.kind = known
        }
        let record = text("record").trimmingCharacters(in: .whitespaces)
        if !record.isEmpty { filter.record = String(record.lowercased().prefix(100)) }
        let staff = text("staff").trimmingCharacters(in: .whitespaces)
        if !staff.isEmpty {
            guard let member = try await identity.customer(username: String(staff.prefix(150))) else { return nil }
            filter.staff = member.id
        }
        return filter
    }
}
