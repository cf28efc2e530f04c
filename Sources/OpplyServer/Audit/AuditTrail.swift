import Foundation
import SQLKit

/// The staff audit trail, read newest first: the `staff_actions` table the areas write to (`StaffAction`). A small
/// area of its own, not Identity's: every area writes to it inside its own transactions, and none should need
/// Identity's store for that.
struct AuditTrail: Sendable {
    let database: any Database

    /// Which actions a list shows: one staff member's, one kind, one record's history; each on an index.
    struct Filter: Sendable, Hashable {
        var staff: UUID?
        var kind: StaffAction.Kind?
        var record: String?
    }

    /// A page for the API: `page.limit` actions after `page.offset`, newest first, and how many match.
    func list(_ filter: Filter, page: PageRequest) async throws -> (actions: [StaffAction], count: Int) {
        try await database.read { sql in
            let count =
                try await Self.matching(filter, sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n"))
                .first()?.decode(column: "n", as: Int.self) ?? 0
            let rows = try await Self.matching(filter, sql.select().columns(StaffAction.columns.map { SQLIdentifier($0) }))
                .orderBy("id", .descending).limit(page.limit).offset(page.offset).all()
            return (try rows.map(StaffAction.init(row:)), count)
        }
    }

    /// A keyset page for the back office: the `limit` actions older than `position` (or, `newer`, newer than it),
    /// newest first, and whether more lie beyond them that way. Ids are time-ordered, so the id is the order.
    func page(_ filter: Filter, from position: UUID?, newer: Bool, limit: Int) async throws -> (actions: [StaffAction], more: Bool) {
        try await database.read { sql in
            let query = Self.matching(filter, sql.select().columns(StaffAction.columns.map { SQLIdentifier($0) }))
            if let position { query.where("id", newer ? .greaterThan : .lessThan, position) }
            let rows = try await query.orderBy("id", newer ? .ascending : .descending).limit(limit + 1).all()
            var actions = try rows.prefix(limit).map(StaffAction.init(row:))
            if newer { actions.reverse() }
            return (actions, rows.count > limit)
        }
    }

    private static func matching(_ filter: Filter, _ query: SQLSelectBuilder) -> SQLSelectBuilder {
        query.from("staff_actions")
        if let staff = filter.staff { query.where("staff_id", .equal, staff) }
        if let kind = filter.kind { query.where("kind", .equal, kind.rawValue) }
        if let record = filter.record { query.where("record_id", .equal, record) }
        return query
    }
}
