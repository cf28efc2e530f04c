import Foundation
import SQLKit

/// The SQL of back-office sessions: `staff_sessions`, keyed by the hash of the cookie's token.
struct StaffSessionStore: Sendable {
    let database: any Database

    struct Row: Sendable {
        let staff: Customer
        let csrf: String
        let flash: String?
        let createdAt: Date
        let seenAt: Date
    }

    func insert(idHash: String, customer: UUID, csrf: String, at now: Date, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "staff_sessions").columns("id_hash", "customer_id", "csrf", "created_at", "seen_at")
            .values(SQLBind(idHash), SQLBind(customer), SQLBind(csrf), SQLBind(now), SQLBind(now)).run()
    }

    /// The session and its open account; nil when either is gone.
    func find(idHash: String) async throws -> Row? {
        let columns = Customer.columns.map { "c." + $0 }.joined(separator: ", ")
        return try await database.read { sql in
            guard
                let row = try await sql.raw(
                    """
                    SELECT \(unsafeRaw: columns), s.csrf, s.flash, s.created_at AS session_created_at, s.seen_at
                    FROM staff_sessions s JOIN customers c ON c.id = s.customer_id
                    WHERE s.id_hash = \(bind: idHash) AND c.deleted_at IS NULL
                    """
                ).first()
            else { return nil }
            return Row(
                staff: try Customer(row: row), csrf: try row.decode(column: "csrf", as: String.self),
                flash: try row.decode(column: "flash", as: String?.self),
                createdAt: try row.decode(column: "session_created_at", as: Date.self),
                seenAt: try row.decode(column: "seen_at", as: Date.self))
        }
    }

    func touch(idHash: String, at now: Date) async throws {
        try await database.transaction { sql in
            try await sql.update("staff_sessions").set("seen_at", to: now).where("id_hash", .equal, idHash).run()
        }
    }

    /// Sets (or, with nil, clears) the message the session's next page shows.
    func setFlash(_ text: String?, idHash: String) async throws {
        try await database.transaction { sql in
            try await sql.update("staff_sessions").set("flash", to: text).where("id_hash", .equal, idHash).run()
        }
    }

    func delete(idHash: String) async throws {
        try await database.transaction { sql in _ = try await delete(idHash: idHash, on: sql) }
    }

    /// Whether there was such a session to delete.
    func delete(idHash: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.delete(from: "staff_sessions").where("id_hash", .equal, idHash).returning("id_hash").first() != nil
    }

    /// Ends every session of one account, inside the transaction that closes it or takes its staff rights.
    func deleteAll(of customer: UUID, on sql: any SQLDatabase) async throws {
        try await sql.delete(from: "staff_sessions").where("customer_id", .equal, customer).run()
    }

    /// Drops sessions idle since `idleBefore` or begun before `createdBefore`; run by the janitor.
    func deleteExpired(idleBefore: Date, createdBefore: Date) async throws {
        try await database.transaction { sql in
            try await sql.delete(from: "staff_sessions").where("seen_at", .lessThan, idleBefore).run()
            try await sql.delete(from: "staff_sessions").where("created_at", .lessThan, createdBefore).run()
        }
    }
}
