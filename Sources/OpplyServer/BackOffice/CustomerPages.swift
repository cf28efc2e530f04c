import Foundation
import Hummingbird

/// Customers in the browser: search by username or e-mail, one customer with their orders and cart, giving or taking
/// staff rights and closing the account, through the same `IdentityService` calls as the API. Staff cannot take their
/// own rights away or close their own account here.
struct CustomerPages: Sendable {
    let identity: IdentityService
    let desk: OrderDesk
    let cart: CartService
    let views: Views

    static let pageSize = 50

    struct Row: Sendable {
        let id: String
        let username: String
        let email: String
        let name: String
        let joined: String
        let staff: Bool
    }

    struct ListPage: Sendable {
        let layout: Layout
        let rows: [Row]
        let empty: Bool
        let search: String
        let previous: String?
        let next: String?
    }

    struct CartLine: Sendable {
        let product: String
        let name: String
        let quantity: Int
        let total: String
    }

    struct DetailPage: Sendable {
        let layout: Layout
        let customer: Row
        let orders: [OrderPages.Row]
        let hasOrders: Bool
        let moreOrders: Bool
        let cart: [CartLine]
        let hasCart: Bool
        let cartTotal: String
        let cartExpires: String?
        let yourself: Bool
        let back: String
    }

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("customers", use: list)
        admin.get("customers/:id", use: customer)
        admin.post("customers/:id/staff", use: setStaff)
        admin.post("customers/:id/close", use: close)
    }

    @Sendable func list(_ request: Request, context: StaffPageContext) async throws -> Response {
        let query = request.uri.queryParameters
        let text = { (name: String) in query[Substring(name)].map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "" }
        let search = String(text("search").prefix(254))
        let before = text("before").isEmpty ? nil : text("before")
        let after = text("after").isEmpty ? nil : text("after")
        let (customers, more) = try await identity.customers(
            matching: search, from: before ?? after, backwards: before != nil, limit: Self.pageSize)
        let filters = search.isEmpty ? [] : [URLQueryItem(name: "search", value: search)]
        let link = { (name: String, customer: Customer) in
            OrderPages.link("/admin/customers/", filters + [URLQueryItem(name: name, value: customer.username)])
        }
        let previous = (before != nil ? more : after != nil) ? customers.first.map { link("before", $0) } : nil
        let next = (before == nil ? more : true) ? customers.last.map { link("after", $0) } : nil
        let page = ListPage(
            layout: Layout("Customers", section: "Customers", session: context.session, views: views),
            rows: customers.map(Self.row), empty: customers.isEmpty, search: search, previous: previous, next: next)
        return views.render("customers", page)
    }

    @Sendable func customer(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        let customer = try await identity.customer(id, caller: context.staff)
        async let orders = desk.orders(OrderFilter(customer: id), from: nil, newer: false, limit: 20)
        let cart = try await cart.cart(of: id)
        let (recent, more) = try await orders
        let page = DetailPage(
            layout: Layout(customer.username, section: "Customers", session: context.session, views: views),
            customer: Self.row(customer), orders: recent.map(OrderPages.row), hasOrders: !recent.isEmpty, moreOrders: more,
            cart: cart.items.map {
                CartLine(
                    product: $0.product.uuidString.lowercased(), name: $0.name, quantity: $0.quantity,
                    total: Display.money($0.lineTotalMinor))
            },
            hasCart: !cart.items.isEmpty, cartTotal: Display.money(cart.items.totalMinor), cartExpires: cart.expiresAt.map(Display.time),
            yourself: id == context.staff.id, back: request.uri.path)
        return views.render("customer", page)
    }

    /// Gives (`staff=yes`) or takes away (`staff=no`) staff rights.
    @Sendable func setStaff(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        guard let wanted = ["yes": true, "no": false][context.form["staff"] ?? ""] else {
            throw AppError.validation(field: "staff", "Choose yes or no.")
        }
        let customer = try await identity.update(id, with: .init(isStaff: wanted), caller: context.staff)
        let text = wanted ? "\(customer.username) is now staff." : "\(customer.username) is no longer staff; their sessions are ended."
        try await identity.flash(Notice(text).stored, for: context.session)
        return Views.redirect(to: "/admin/customers/\(id.uuidString.lowercased())/")
    }

    @Sendable func close(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        guard id != context.staff.id else {
            throw AppError.validation(field: "id", "You cannot close your own account here: ask another staff member.")
        }
        let customer = try await identity.customer(id, caller: context.staff)
        try await identity.delete(id, caller: context.staff)
        try await identity.flash(
            Notice("Closed \(customer.username)'s account: they can no longer log in; their orders stay.").stored, for: context.session)
        return Views.redirect(to: "/admin/customers/")
    }

    static func row(_ customer: Customer) -> Row {
        Row(
            id: customer.id.uuidString.lowercased(), username: customer.username, email: customer.email,
            name: [customer.firstName, customer.lastName].filter { !$0.isEmpty }.joined(separator: " "),
            joined: Display.time(customer.dateJoined), staff: customer.isStaff)
    }
}
