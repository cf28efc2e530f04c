import Foundation
import Logging
import SQLKit

/// The schema, as numbered migrations. Each runs once, in its own transaction, recorded in `schema_migrations`.
///
/// One text serves both engines: `{uuid}`, `{time}`, `{int}`, `{bool}`, `{serial}` and `{false}` expand to
/// each engine's column types (UUIDs are TEXT and times REAL seconds in SQLite; `uuid`/`timestamptz` in PostgreSQL).
enum Migrations {
    struct Migration {
        let version: Int
        let name: String
        let statements: [String]
        /// Statements for PostgreSQL when its DDL differs from SQLite's (`statements` then serve SQLite only).
        var postgres: [String]?

        func statements(for engine: SQLEngine) -> [String] {
            engine == .postgres ? postgres ?? statements : statements
        }
    }

    static let all = base + later

    static func expand(_ statement: String, for engine: SQLEngine) -> String {
        let types: [String: String] =
            switch engine {
            case .sqlite:
                [
                    "{uuid}": "TEXT", "{time}": "REAL", "{int}": "INTEGER", "{bool}": "INTEGER",
                    "{serial}": "INTEGER PRIMARY KEY AUTOINCREMENT", "{false}": "0",
                ]
            case .postgres:
                [
                    "{uuid}": "uuid", "{time}": "timestamptz", "{int}": "bigint", "{bool}": "boolean",
                    "{serial}": "bigserial PRIMARY KEY", "{false}": "false",
                ]
            }
        return types.reduce(statement) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
    }

    /// Applies every migration not yet recorded; safe when several instances start at once.
    /// Returns the versions it applied.
    @discardableResult
    static func migrate(_ database: any Database, logger: Logger) async throws -> [Int] {
        try await database.transaction { sql in
            try await sql.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)").run()
        }
        var applied: [Int] = []
        for migration in all {
            let ran = try await database.transaction { sql -> Bool in
                if database.engine == .postgres {
                    // Serializes concurrent migrators; released at commit.
                    try await sql.raw("SELECT pg_advisory_xact_lock(7001)").run()
                }
                let done = try await sql.select().column("version").from("schema_migrations")
                    .where("version", .equal, migration.version).first()
                guard done == nil else { return false }
                for statement in migration.statements(for: database.engine) {
                    try await sql.raw(SQLQueryString(expand(statement, for: database.engine))).run()
                }
                try await sql.insert(into: "schema_migrations")
                    .columns("version", "name").values(SQLBind(migration.version), SQLBind(migration.name)).run()
                return true
            }
            if ran {
                logger.info("Applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }
}
