import Foundation
import SQLKit

@testable import OpplyServer

extension CatalogStore {
    /// PostgreSQL's plans for the row queries of an offset page, of a cursor page at `position` and of an offset page's
    /// walk or sort where a search may take one (for the test that no filter or ordering falls back to scanning the table).
    func plans(_ query: ProductQuery, from position: CatalogCursor?) async throws -> [String] {
        try await primary.read { sql in
            var plans: [String] = []
            var statements = [
                offsetPage(query, indexOnlySearch: true, on: sql).query,
                cursorPage(query, from: position, indexOnlySearch: true, on: sql).query,
            ]
            if query.searchPattern != nil {
                let pages = PostgresPages()
                let reading = query.ordering.column == "name" ? pages.nameWalkLimit : PostgresPages.walkLimit
                statements.append(pages.walk(query, reading: reading, of: self, on: sql))
                if query.ordering.column == "name" { statements.append(pages.sorted(query, of: self, on: sql)) }
            }
            for statement in statements {
                let rows = try await sql.raw("EXPLAIN \(statement)").all()
                plans.append(try rows.map { try $0.decode(column: "QUERY PLAN", as: String.self) }.joined(separator: "\n"))
            }
            return plans
        }
    }
}
