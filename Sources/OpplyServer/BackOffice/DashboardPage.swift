import Foundation
import Hummingbird

/// `/admin/`: what needs doing now, each figure a bounded count on an index.
struct DashboardPage: Sendable {
    let desk: OrderDesk
    let catalog: CatalogService
    let clock: WallClock
    let views: Views

    struct Figure: Sendable {
        let label: String
        let value: String
        let href: String
    }

    struct Model: Sendable {
        let layout: Layout
        let figures: [Figure]
    }

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("/", use: show)
    }

    @Sendable func show(_ request: Request, context: StaffPageContext) async throws -> Response {
        let today = Display.startOfDay(clock.now)
        async let awaiting = desk.count(OrderFilter(status: .confirmed), cap: 10_001)
        async let placed = desk.count(OrderFilter(createdAfter: today), cap: 10_001)
        async let empty = catalog.outOfStock()
        let figures = [
            Figure(label: "Orders awaiting fulfilment", value: Display.count(try await awaiting), href: "/admin/orders/?status=confirmed"),
            Figure(label: "Orders today", value: Display.count(try await placed), href: "/admin/orders/?from=\(Display.day(today))"),
            Figure(label: "Products out of stock", value: Display.count(try await empty), href: "/admin/products/"),
        ]
        return views.render(
            "dashboard", Model(layout: Layout("Dashboard", section: "Dashboard", session: context.session, views: views), figures: figures))
    }
}
