import Foundation
import Hummingbird

/// The order desk in the browser: every order newest first with filters, one order with its lines and timeline,
/// fulfilling (one order, or several ticked on the list) and cancelling, all through `OrderDesk`.
struct OrderPages: Sendable {
    let desk: OrderDesk
    let identity: IdentityService
    let views: Views

    static let pageSize = 50
    /// The list counts its matches this far and no further ("1,000+"): orders change with every sale, so the count
    /// cannot be kept between requests as the catalog's is, and counting ten times further costs a few milliseconds.
    static let countCap = 1_000

    struct Row: Sendable {
        let id: String
        let shortID: String
        let placed: String
        let customer: String
        let items: Int
        let total: String
        let status: String
        let fulfillable: Bool
    }

    struct ListPage: Sendable {
        let layout: Layout
        let rows: [Row]
        let empty: Bool
        let count: String
        let status: [Choice]
        let customer: String
        let product: String
        let from: String
        let to: String
        let newer: String?
        let older: String?
        let back: String
        let export: String
    }

    struct Line: Sendable {
        let product: String
        let name: String
        let quantity: Int
        let price: String
        let total: String
    }

    struct Event: Sendable {
        let what: String
        let when: String
        let text: String?
    }

    struct DetailPage: Sendable {
        let layout: Layout
        let id: String
        let status: String
        let customer: String
        let customerID: String
        let lines: [Line]
        let total: String
        let timeline: [Event]
        let confirmed: Bool
        let back: String
    }

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("orders", use: list)
        admin.post("orders/fulfil", use: fulfilTicked)
        admin.get("orders/:id", use: order)
        admin.post("orders/:id/fulfil", use: fulfil)
        admin.post("orders/:id/cancel", use: cancel)
    }

    @Sendable func list(_ request: Request, context: StaffPageContext) async throws -> Response {
        let query = request.uri.queryParameters
        let text = { (name: String) in query[Substring(name)].map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "" }
        let filter = try await Self.filter(text, identity: identity)
        let before = UUID(uuidString: text("before"))
        let after = UUID(uuidString: text("after"))
        var orders: [OrderDesk.DeskOrder] = []
        var more = false
        var count = 0
        if let chosen = filter {
            async let counted = desk.count(chosen, cap: Self.countCap + 1)
            (orders, more) = try await desk.orders(chosen, from: after ?? before, newer: after != nil, limit: Self.pageSize)
            count = try await counted
        }
        let filters = ["status", "customer", "product", "from", "to"].compactMap { name in
            text(name).isEmpty ? nil : URLQueryItem(name: name, value: text(name))
        }
        let link = { (name: String, id: UUID) in
            Self.link("/admin/orders/", filters + [URLQueryItem(name: name, value: id.uuidString.lowercased())])
        }
        let newer = (after != nil ? more : before != nil) ? orders.first.map { link("after", $0.order.id) } : nil
        let older = (before != nil || after == nil ? more : true) ? orders.last.map { link("before", $0.order.id) } : nil
        let page = ListPage(
            layout: Layout("Orders", section: "Orders", session: context.session, views: views),
            rows: orders.map(Self.row), empty: orders.isEmpty, count: Display.count(count, cap: Self.countCap),
            status: [nil, Order.Status.confirmed, .fulfilled, .cancelled].map {
                Choice(value: $0?.rawValue ?? "", label: $0?.rawValue.capitalized ?? "Any status", selected: filter?.status == $0)
            },
            customer: text("customer"), product: text("product"), from: text("from"), to: text("to"),
            newer: newer, older: older, back: request.uri.description, export: Self.link("/admin/orders/export.csv", filters))
        return views.render("orders", page)
    }

    @Sendable func order(_ request: Request, context: StaffPageContext) async throws -> Response {
        let desk = try await desk.order(try Self.id(context))
        let order = desk.order
        var timeline = [Event(what: "Placed", when: Display.time(order.createdAt), text: nil)]
        if let fulfilled = order.fulfilledAt {
            timeline.append(Event(what: "Fulfilled", when: Display.time(fulfilled), text: order.fulfilmentNote))
        }
        if order.status == .cancelled {
            timeline.append(Event(what: "Cancelled", when: Display.time(order.updatedAt), text: order.cancelReason))
        }
        let page = DetailPage(
            layout: Layout("Order \(Display.shortID(order.id))", section: "Orders", session: context.session, views: views),
            id: order.id.uuidString.lowercased(), status: order.status.rawValue, customer: desk.customerUsername ?? "(closed account)",
            customerID: order.customer.uuidString.lowercased(),
            lines: order.items.map {
                Line(
                    product: $0.product.uuidString.lowercased(), name: $0.name, quantity: $0.quantity, price: Display.money($0.priceMinor),
                    total: Display.money($0.lineTotalMinor))
            },
            total: Display.money(order.totalMinor), timeline: timeline, confirmed: order.status == .confirmed,
            back: request.uri.path)
        return views.render("order", page)
    }

    @Sendable func fulfil(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try Self.id(context)
        _ = try await desk.fulfil(id, note: context.form.text("note"), by: context.staff)
        try await identity.flash(Notice("Order \(Display.shortID(id)) fulfilled.").stored, for: context.session)
        return Views.redirect(to: "/admin/orders/\(id.uuidString.lowercased())/")
    }

    @Sendable func cancel(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try Self.id(context)
        _ = try await desk.cancel(id, reason: context.form["reason"] ?? "", by: context.staff)
        try await identity.flash(
            Notice("Order \(Display.shortID(id)) cancelled; its stock is back on the shelf.").stored, for: context.session)
        return Views.redirect(to: "/admin/orders/\(id.uuidString.lowercased())/")
    }

    /// Fulfils the orders ticked on the list, each on its own, and says how many were and why the others were not.
    @Sendable func fulfilTicked(_ request: Request, context: StaffPageContext) async throws -> Response {
        let ids = context.form.all("order").compactMap(UUID.init(uuidString:))
        guard !ids.isEmpty, ids.count <= Self.pageSize else {
            throw AppError.validation(field: "order", "Tick from 1 to \(Self.pageSize) orders to fulfil.")
        }
        let (fulfilled, refused) = try await desk.fulfil(ids, by: context.staff)
        var text = "Fulfilled \(fulfilled.count) of \(ids.count) orders."
        for (id, reason) in refused { text += " Order \(Display.shortID(id)) was not: \(reason)" }
        try await identity.flash(Notice(text, error: !refused.isEmpty).stored, for: context.session)
        return Views.redirect(to: BackOfficeGate.localPath(context.form["back"]) ?? "/admin/orders/")
    }

    /// The desk's filters from the list's query: status, customer username, product id, and days from and to
    /// (whole UTC days); nil when the customer named has no account (nothing can match); `400` naming what is wrong.
    static func filter(_ text: (String) -> String, identity: IdentityService) async throws -> OrderFilter? {
        var filter = OrderFilter()
        var problems: [FieldProblem] = []
        if !text("status").isEmpty {
            if let status = Order.Status(rawValue: text("status")) {
                filter.status = status
            } else {
                problems.append(FieldProblem("status", "Choose confirmed, fulfilled or cancelled."))
            }
        }
        if !text("product").isEmpty {
            if let product = UUID(uuidString: text("product")) {
                filter.product = product
            } else {
                problems.append(FieldProblem("product", "A product id, as a product's page shows it."))
            }
        }
        for (name, keyPath, offset) in [("from", \OrderFilter.createdAfter, 0.0), ("to", \OrderFilter.createdBefore, 86_400.0)]
        where !text(name).isEmpty {
            if let day = Display.day(text(name)) {
                filter[keyPath: keyPath] = day + offset
            } else {
                problems.append(FieldProblem(name, "A day written YYYY-MM-DD."))
            }
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        if !text("customer").isEmpty {
            guard let customer = try await identity.customer(username: String(text("customer").prefix(150))) else { return nil }
            filter.customer = customer.id
        }
        return filter
    }

    static func row(_ desk: OrderDesk.DeskOrder) -> Row {
        let order = desk.order
        return Row(
            id: order.id.uuidString.lowercased(), shortID: Display.shortID(order.id), placed: Display.time(order.createdAt),
            customer: desk.customerUsername ?? "(closed account)", items: order.items.reduce(0) { $0 + $1.quantity },
            total: Display.money(order.totalMinor), status: order.status.rawValue, fulfillable: order.status == .confirmed)
    }

    static func id(_ context: StaffPageContext) throws -> UUID {
        guard let raw = context.parameters.get("id"), let id = UUID(uuidString: raw) else { throw AppError.notFound }
        return id
    }

    static func link(_ path: String, _ items: [URLQueryItem]) -> String {
        var components = URLComponents()
        components.queryItems = items
        let query = Page<Product>.formEncoded(components)
        return query.isEmpty ? path : path + "?" + query
    }
}
