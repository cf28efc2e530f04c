import Foundation
import Hummingbird

/// `/admin/orders/export.csv`: the order list with the list's filters as CSV, one line per order line, newest order
/// first. Streamed a keyset page at a time, each written before the next is read, so a million orders take no more
/// memory than a page.
struct OrderExport: Sendable {
    let desk: OrderDesk
    let identity: IdentityService
    let clock: WallClock

    static let batch = 500
    static let header = "order_id,placed_at,customer,status,product_id,product_name,quantity,unit_price,line_total,order_total\r\n"

    func addRoutes(to admin: RouterGroup<StaffPageContext>) {
        admin.get("orders/export.csv", use: export)
    }

    @Sendable func export(_ request: Request, context: StaffPageContext) async throws -> Response {
        let query = request.uri.queryParameters
        let text = { (name: String) in query[Substring(name)].map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "" }
        let filter = try await OrderPages.filter(text, identity: identity)
        var headers = HTTPFields()
        Views.secure(&headers)
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"orders-\(Display.day(clock.now)).csv\""
        let body = ResponseBody { [desk] writer in
            try await writer.write(ByteBuffer(string: Self.header))
            var position: UUID?
            while let filter {
                let (orders, more) = try await desk.orders(filter, from: position, newer: false, limit: Self.batch)
                var buffer = ByteBuffer()
                for order in orders { Self.write(order, to: &buffer) }
                try await writer.write(buffer)
                guard more, let last = orders.last else { break }
                position = last.order.id
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    static func write(_ desk: OrderDesk.DeskOrder, to buffer: inout ByteBuffer) {
        let order = desk.order
        let fixed = [
            order.id.uuidString.lowercased(), Timestamp.format(order.createdAt), field(desk.customerUsername ?? ""), order.status.rawValue,
        ].joined(separator: ",")
        for item in order.items {
            let line = [
                fixed, item.product.uuidString.lowercased(), field(item.name), String(item.quantity), Money.format(item.priceMinor),
                Money.format(item.lineTotalMinor), Money.format(order.totalMinor),
            ]
            buffer.writeString(line.joined(separator: ",") + "\r\n")
        }
    }

    /// A text field as RFC 4180 wants it: quoted when it holds a comma, a quote or a line break, quotes doubled. One
    /// that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
    static func field(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@\t\r".contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
