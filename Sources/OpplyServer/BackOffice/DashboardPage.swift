import Foundation
import Hummingbird
import Synchronization

/// `/admin/`: what needs doing now and how the shop is doing. Every figure is a bounded count or a range on an index;
/// the two that are not cheap are kept a minute: the thirteen closed days of the chart (today is always read anew)
/// and the lowest stock (it reads every live product: see `CatalogStore.lowestStock`).
struct DashboardPage: Sendable {
    let desk: OrderDesk
    let catalog: CatalogService
    let webhooks: WebhookService
    let clock: WallClock
    let views: Views
    /// The closed days of the chart, for the day they were read on.
    let closedDays = Kept<(today: Date, days: [Int: (orders: Int, revenueMinor: Int)])>(for: .seconds(60))
    let lowest = Kept<[(id: UUID, name: String, available: Int)]>(for: .seconds(60))

    static let days = 14

    struct Figure: Sendable {
        let label: String
        let value: String
        let href: String
    }

    /// One day of the chart: a bar and a row of the table beside it.
    struct Day: Sendable {
        let label: String
        let short: String
        let orders: Int
        let revenue: String
        let x: Int
        let y: Int
        let height: Int
        let textY: Int
    }

    struct Low: Sendable {
        let id: String
        let name: String
        let available: Int
    }

    struct Model: Sendable {
        let layout: Layout
        let figures: [Figure]
        let days: [Day]
        let chartWidth: Int
        let peak: Int
        let lowest: [Low]
        let dead: String
        let oldestPending: String?
    }

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("/", use: show)
    }

    @Sendable func show(_ request: Request, context: StaffPageContext) async throws -> Response {
        let now = clock.now
        let today = Display.startOfDay(now)
        async let awaiting = desk.count(OrderFilter(status: .confirmed), cap: OrderPages.countCap + 1)
        async let empty = catalog.outOfStock()
        async let dead = webhooks.deadDeliveries(cap: 10_001)
        async let oldest = webhooks.oldestPending()
        let days = try await chart(today: today, now: now)
        let low = try await lowest.value { try await catalog.lowestStock(limit: 20) }
        let todays = days.last
        let figures = [
            Figure(
                label: "Orders awaiting fulfilment", value: Display.count(try await awaiting, cap: OrderPages.countCap),
                href: "/admin/orders/?status=confirmed"),
            Figure(label: "Orders today", value: Display.grouped(todays?.orders ?? 0), href: "/admin/orders/?from=\(Display.day(today))"),
            Figure(label: "Revenue today", value: todays?.revenue ?? Display.money(0), href: "/admin/orders/?from=\(Display.day(today))"),
            Figure(label: "Products out of stock", value: Display.count(try await empty), href: "/admin/products/"),
        ]
        let model = Model(
            layout: Layout("Dashboard", section: "Dashboard", session: context.session, views: views), figures: figures, days: days,
            chartWidth: Self.days * Self.barPitch, peak: days.map(\.orders).max() ?? 0,
            lowest: low.map { Low(id: $0.id.uuidString.lowercased(), name: $0.name, available: $0.available) },
            dead: Display.count(try await dead), oldestPending: try await oldest.map(Display.time))
        return views.render("dashboard", model)
    }

    static let barPitch = 40
    static let chartHeight = 120

    /// The last fourteen days, oldest first: the closed ones as kept, today's read now.
    private func chart(today: Date, now: Date) async throws -> [Day] {
        let first = today - Double(Self.days - 1) * 86_400
        var closed = try await closedDays.value { (today, try await desk.days(from: first, to: today)) }
        if closed.today != today {  // the day turned since they were kept
            closed = (today, try await desk.days(from: first, to: today))
            closedDays.set(closed)
        }
        let live = try await desk.days(from: today, to: now + 1)
        let totals = closed.days.merging(live) { $1 }
        let peak = max(1, totals.values.map(\.orders).max() ?? 0)
        return (0..<Self.days).map { index in
            let start = first + Double(index) * 86_400
            let figures = totals[Int(start.timeIntervalSince1970 / 86_400)] ?? (0, 0)
            let height = figures.orders * Self.chartHeight / peak
            return Day(
                label: Display.day(start), short: String(Display.day(start).suffix(5)), orders: figures.orders,
                revenue: Display.money(figures.revenueMinor),
                x: index * Self.barPitch + 6, y: Self.chartHeight - height + 16, height: height, textY: Self.chartHeight - height + 12)
        }
    }
}

/// A value worked out at most once per `period`: while one request works out a stale value again, the others get the
/// stale one rather than queueing behind it.
final class Kept<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var at: ContinuousClock.Instant?
        var refreshing = false
    }

    private let state = Mutex(State())
    private let period: Duration

    init(for period: Duration) {
        self.period = period
    }

    func value(_ work: () async throws -> Value) async throws -> Value {
        let now = ContinuousClock.now
        let kept: Value? = state.withLock { state in
            if let value = state.value, let at = state.at, now - at < period || state.refreshing { return value }
            state.refreshing = true
            return nil
        }
        if let kept { return kept }
        do {
            let value = try await work()
            set(value)
            return value
        } catch {
            state.withLock { $0.refreshing = false }
            throw error
        }
    }

    func set(_ value: Value) {
        state.withLock { $0 = State(value: value, at: .now, refreshing: false) }
    }
}
