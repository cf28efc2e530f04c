import Foundation
import Hummingbird

/// `/admin/audit/`: every staff action newest first, from the back office and the API alike, filtered by staff member,
/// kind and record; a record's page links here with `?record=` for its history.
struct AuditPages: Sendable {
    let audit: AuditTrail
    let identity: IdentityService
    let views: Views

    static let pageSize = 50

    struct Row: Sendable {
        let when: String
        let staff: String
        let kind: String
        let record: String
        let href: String?
        let summary: String
    }

    struct ListPage: Sendable {
        let layout: Layout
        let rows: [Row]
        let empty: Bool
        let staff: String
        let kinds: [Choice]
        let record: String
        let newer: String?
        let older: String?
    }

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("audit", use: list)
    }

    @Sendable func list(_ request: Request, context: StaffPageContext) async throws -> Response {
        let query = request.uri.queryParameters
        let text = { (name: String) in query[Substring(name)].map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "" }
        let filter = try await AuditController.filter(text, identity: identity)
        let before = UUID(uuidString: text("before"))
        let after = UUID(uuidString: text("after"))
        var actions: [StaffAction] = []
        var more = false
        if let filter {
            (actions, more) = try await audit.page(filter, from: after ?? before, newer: after != nil, limit: Self.pageSize)
        }
        let filters = ["staff", "kind", "record"].compactMap { text($0).isEmpty ? nil : URLQueryItem(name: $0, value: text($0)) }
        let link = { (name: String, id: UUID) in
            OrderPages.link("/admin/audit/", filters + [URLQueryItem(name: name, value: id.uuidString.lowercased())])
        }
        let page = ListPage(
            layout: Layout("Audit trail", section: "Audit", session: context.session, views: views),
            rows: actions.map(Self.row), empty: actions.isEmpty, staff: text("staff"),
            kinds: [Choice(value: "", label: "Any kind", selected: filter?.kind == nil)]
                + StaffAction.Kind.allCases.map { Choice(value: $0.rawValue, label: Self.label($0), selected: filter?.kind == $0) },
            record: text("record"),
            newer: (after != nil ? more : before != nil) ? actions.first.map { link("after", $0.id) } : nil,
            older: (before != nil || after == nil ? more : true) ? actions.last.map { link("before", $0.id) } : nil)
        return views.render("audit", page)
    }

    static func row(_ action: StaffAction) -> Row {
        let href: String? =
            switch action.kind.record {
            case "product": "/admin/products/\(action.record)/"
            case "category": "/admin/categories/"
            case "order": "/admin/orders/\(action.record)/"
            case "customer", "staff": "/admin/customers/\(action.record)/"
            case "webhook": "/admin/webhooks/\(action.record)/"
            default: nil
            }
        return Row(
            when: Display.time(action.at), staff: action.staffUsername, kind: label(action.kind), record: action.record, href: href,
            summary: action.summary)
    }

    /// A kind as staff read it: "product stock adjusted" for `product.stock_adjusted`.
    static func label(_ kind: StaffAction.Kind) -> String {
        kind.rawValue.replacingOccurrences(of: ".", with: " ").replacingOccurrences(of: "_", with: " ")
    }
}
