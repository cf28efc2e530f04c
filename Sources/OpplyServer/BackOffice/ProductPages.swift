import Foundation
import Hummingbird

/// Products and categories in the browser: the list with its filters, creating, editing, archiving, adjusting stock
/// and its history, and the categories; every change through `CatalogService` (stock through `Inventory` inside it).
struct ProductPages: Sendable {
    let catalog: CatalogService
    let identity: IdentityService
    let views: Views

    static let pageSize = 50

    struct Row: Sendable {
        let id: String
        let name: String
        let category: String
        let price: String
        let available: Int
        let out: Bool
    }

    struct ListPage: Sendable {
        let layout: Layout
        let rows: [Row]
        let empty: Bool
        let count: String
        let search: String
        let categories: [Choice]
        let inStock: Bool
        let minPrice: String
        let maxPrice: String
        let previous: String?
        let next: String?
    }

    struct Change: Sendable {
        let when: String
        let who: String
        let delta: String
        let reason: String
        let after: String
    }

    struct ProductPage: Sendable {
        let layout: Layout
        let id: String
        let name: String
        let description: String
        let price: String
        let category: String
        let categories: [Choice]
        let onHand: Int
        let reserved: Int
        let available: Int
        let history: [Change]
        let noHistory: Bool
        let back: String
    }

    struct NewProductPage: Sendable {
        let layout: Layout
        let categories: [Choice]
    }

    struct CategoryRow: Sendable {
        let slug: String
        let name: String
        let products: String
    }

    struct CategoriesPage: Sendable {
        let layout: Layout
        let rows: [CategoryRow]
        let empty: Bool
    }

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("products", use: list)
        admin.post("products", use: create)
        admin.get("products/new", use: newProduct)
        admin.get("products/:id", use: product)
        admin.post("products/:id", use: update)
        admin.post("products/:id/stock", use: adjust)
        admin.post("products/:id/archive", use: archive)
        admin.get("categories", use: categories)
        admin.post("categories", use: createCategory)
        admin.post("categories/:slug", use: renameCategory)
    }

    @Sendable func list(_ request: Request, context: StaffPageContext) async throws -> Response {
        var query = try ProductQuery(from: request)
        let params = request.uri.queryParameters
        query.inStock = params["in_stock"].map { $0 == "true" || $0 == "1" } ?? false
        query.page = PageRequest(limit: Self.pageSize)
        async let counted = catalog.count(query)
        let (products, previous, next) = try await catalog.staffPage(query)
        let link = { (cursor: String) in
            OrderPages.link("/admin/products/", query.adminFilters + [URLQueryItem(name: "cursor", value: cursor)])
        }
        let page = ListPage(
            layout: Layout("Products", section: "Products", session: context.session, views: views),
            rows: products.map {
                Row(
                    id: $0.id.uuidString.lowercased(), name: $0.name, category: $0.category ?? "", price: Display.money($0.priceMinor),
                    available: $0.quantity, out: $0.quantity <= 0)
            },
            empty: products.isEmpty, count: Display.count(try await counted),
            search: params["search"].map(String.init) ?? "", categories: try await choices(query.category, blank: "Any category"),
            inStock: query.inStock, minPrice: query.minPrice.map(Money.format) ?? "", maxPrice: query.maxPrice.map(Money.format) ?? "",
            previous: previous.map(link), next: next.map(link))
        return views.render("products", page)
    }

    @Sendable func newProduct(_ request: Request, context: StaffPageContext) async throws -> Response {
        let page = NewProductPage(
            layout: Layout("New product", section: "Products", session: context.session, views: views),
            categories: try await choices(nil, blank: "No category"))
        return views.render("product-new", page)
    }

    @Sendable func create(_ request: Request, context: StaffPageContext) async throws -> Response {
        let form = context.form
        let rawQuantity = form.text("quantity") ?? "0"
        guard let quantity = Int(rawQuantity) else {
            throw AppError.validation(field: "quantity", "Give the units in stock as a whole number.")
        }
        let product = try await catalog.create(
            .init(
                name: form["name"] ?? "", description: form["description"] ?? "", price: form.text("price") ?? "", quantity: quantity,
                category: form.text("category")),
            staff: context.staff)
        try await identity.flash(Notice("Created \(product.name).").stored, for: context.session)
        return Views.redirect(to: "/admin/products/\(product.id.uuidString.lowercased())/")
    }

    @Sendable func product(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        let product = try await catalog.product(id)
        let stock = try await catalog.stock(of: id)
        let names = try await identity.usernames(of: Array(Set(stock.history.compactMap(\.staff))))
        let page = ProductPage(
            layout: Layout(product.name, section: "Products", session: context.session, views: views),
            id: id.uuidString.lowercased(), name: product.name, description: product.description, price: Money.format(product.priceMinor),
            category: product.category ?? "", categories: try await choices(product.category, blank: "No category"),
            onHand: stock.onHand, reserved: stock.reserved, available: product.quantity,
            history: stock.history.map {
                Change(
                    when: Display.time($0.at), who: $0.staff.map { names[$0] ?? "(closed account)" } ?? "system",
                    delta: Display.delta($0.delta), reason: $0.reason, after: $0.onHandAfter.map(String.init) ?? "")
            },
            noHistory: stock.history.isEmpty, back: request.uri.path)
        return views.render("product", page)
    }

    @Sendable func update(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        let form = context.form
        var changes = CatalogService.Changes()
        changes.name = form["name"]
        changes.description = form["description"]
        changes.price = form.text("price")
        changes.category = .some(form.text("category"))
        let product = try await catalog.update(id, with: changes, by: context.staff)
        try await identity.flash(Notice("Saved \(product.name).").stored, for: context.session)
        return Views.redirect(to: "/admin/products/\(id.uuidString.lowercased())/")
    }

    @Sendable func adjust(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        guard let delta = context.form.text("adjustment").flatMap({ Int($0.hasPrefix("+") ? String($0.dropFirst()) : $0) }) else {
            throw AppError.validation(field: "adjustment", "Give the change as a whole number, such as 12 or -3.")
        }
        let product = try await catalog.adjust(
            id, with: .init(adjustment: delta, reason: context.form["reason"] ?? ""), staff: context.staff)
        try await identity.flash(Notice("Stock of \(product.name) changed by \(Display.delta(delta)).").stored, for: context.session)
        return Views.redirect(to: "/admin/products/\(id.uuidString.lowercased())/")
    }

    @Sendable func archive(_ request: Request, context: StaffPageContext) async throws -> Response {
        let id = try OrderPages.id(context)
        let product = try await catalog.product(id)
        try await catalog.archive(id, by: context.staff)
        try await identity.flash(
            Notice("Archived \(product.name): it is out of the catalog and of every cart.").stored, for: context.session)
        return Views.redirect(to: "/admin/products/")
    }

    @Sendable func categories(_ request: Request, context: StaffPageContext) async throws -> Response {
        let rows = try await catalog.categories().map {
            CategoryRow(slug: $0.slug, name: $0.name, products: Display.grouped($0.productCount))
        }
        let page = CategoriesPage(
            layout: Layout("Categories", section: "Categories", session: context.session, views: views), rows: rows, empty: rows.isEmpty)
        return views.render("categories", page)
    }

    @Sendable func createCategory(_ request: Request, context: StaffPageContext) async throws -> Response {
        let category = try await catalog.createCategory(
            slug: context.form.text("slug") ?? "", name: context.form["name"] ?? "", by: context.staff)
        try await identity.flash(Notice("Created the category \(category.name).").stored, for: context.session)
        return Views.redirect(to: "/admin/categories/")
    }

    @Sendable func renameCategory(_ request: Request, context: StaffPageContext) async throws -> Response {
        guard let slug = context.parameters.get("slug") else { throw AppError.notFound }
        let category = try await catalog.renameCategory(slug, to: context.form["name"] ?? "", by: context.staff)
        try await identity.flash(Notice("Renamed \(category.slug) to \(category.name).").stored, for: context.session)
        return Views.redirect(to: "/admin/categories/")
    }

    /// The categories as choices of a select, `selected` chosen, behind a blank choice.
    private func choices(_ selected: String?, blank: String) async throws -> [Choice] {
        [Choice(value: "", label: blank, selected: selected == nil)]
            + (try await catalog.categories(counted: false)).map { Choice(value: $0.slug, label: $0.name, selected: $0.slug == selected) }
    }
}

extension ProductQuery {
    /// The back office list's filters as its links carry them (in stock only when ticked).
    fileprivate var adminFilters: [URLQueryItem] {
        filters.filter { $0.name != "in_stock" } + (inStock ? [URLQueryItem(name: "in_stock", value: "true")] : [])
    }
}
