import Foundation
import HummingbirdCore

extension OrderFilter {
    /// The API desk's filters from a query: `status`, `customer`, `product` (ids), `created_after`, `created_before`
    /// (RFC 3339); `400` naming each one that is wrong.
    init(query: FlatDictionary<Substring, Substring>) throws {
        var filter = OrderFilter()
        var problems: [FieldProblem] = []
        if let raw = query["status"] {
            if let status = Order.Status(rawValue: String(raw)) {
                filter.status = status
            } else {
                problems.append(FieldProblem("status", "Must be confirmed, fulfilled or cancelled."))
            }
        }
        for (name, keyPath) in [("customer", \OrderFilter.customer), ("product", \OrderFilter.product)] {
            guard let raw = query[Substring(name)] else { continue }
            if let id = UUID(uuidString: String(raw)) {
                filter[keyPath: keyPath] = id
            } else {
                problems.append(FieldProblem(name, "Must be an id."))
            }
        }
        for (name, keyPath) in [("created_after", \OrderFilter.createdAfter), ("created_before", \OrderFilter.createdBefore)] {
            guard let raw = query[Substring(name)] else { continue }
            if let date = Timestamp.parse(String(raw)) {
                filter[keyPath: keyPath] = date
            } else {
                problems.append(FieldProblem(name, "Must be an RFC 3339 time, such as 2026-11-26T09:30:00Z."))
            }
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        self = filter
    }
}
