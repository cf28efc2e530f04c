import Foundation
import SQLKit

@testable import OpplyServer

extension CatalogStore {
    /// PostgreSQL's plans for the row queries of an offset page, of a cursor page at `position` and of an offset page's
    /// walk or sort where a search may take one (for the test that no filter or ordering falls back to scanning the table).
    func plans(_ query: ProductQuery, from position: CatalogCursor?) async throws -> [String] {
        try await primary.read { sql in
            var plans: [String] = []
            var statements = [offsetPage(query, on: sql).query, cursorPage(query, from: position, on: sql).query]
            if query.searchPattern != nil {
                statements.append(walk(query, reading: query.ordering.column == "name" ? nameWalkLimit : Self.walkLimit, on: sql))
                if query.ordering.column == "name" { statements.append(sorted(query, on: sql)) }
            }
            for statement in statements {
                let rows = try await sql.raw("EXPLAIN \(statement)").all()
                plans.append(try rows.map { try $0.decode(column: "QUERY PLAN", as: String.self) }.joined(separator: "\n"))
            }
            return plans
        }
    }
}
