import Foundation
import SQLKit

/// The SQL of the identity area: `customers` and `refresh_tokens`.
struct CustomerStore: Sendable {
    let database: any Database

    /// An open account by id. Plain text with a bind, not a builder: every authenticated request runs it.
    func find(id: UUID, on sql: any SQLDatabase) async throws -> Customer? {
        try await sql.raw("SELECT \(unsafeRaw: Customer.selectList) FROM customers WHERE id = \(bind: id) AND deleted_at IS NULL")
            .first().map(Customer.init(row:))
    }

    /// Usernames by id, closed accounts included (their orders stay on the books).
    func usernames(of ids: [UUID]) async throws -> [UUID: String] {
        guard !ids.isEmpty else { return [:] }
        return try await database.read { sql in
            var names: [UUID: String] = [:]
            for row in try await sql.select().columns("id", "username").from("customers").where("id", .in, ids).all() {
                names[try row.decode(column: "id", as: UUID.self)] = try row.decode(column: "username", as: String.self)
            }
            return names
        }
    }

    /// An open account for an access token: nil when it is closed or, with `liveFamily`, that refresh family was
    /// revoked. One statement: every authenticated request not remembered runs it.
    func find(id: UUID, liveFamily family: UUID?) async throws -> Customer? {
        guard let family else { return try await find(id: id) }
        return try await database.read { sql in
            try await sql.raw(
                """
                SELECT \(unsafeRaw: Customer.selectList) FROM customers WHERE id = \(bind: id) AND deleted_at IS NULL \
                AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE family = \(bind: family) AND revoked_at IS NOT NULL)
                """
            ).first().map(Customer.init(row:))
        }
    }

    /// The open account with this username (any case).
    func find(usernameKey: String) async throws -> Customer? {
        try await database.read { sql in
            try await sql.raw(
                "SELECT \(unsafeRaw: Customer.selectList) FROM customers WHERE username_key = \(bind: usernameKey) AND deleted_at IS NULL"
            ).first().map(Customer.init(row:))
        }
    }

    func find(id: UUID) async throws -> Customer? {
        try await database.read { try await find(id: id, on: $0) }
    }

    /// The customer and password hash for a login, by case-insensitive username.
    func credentials(usernameKey: String) async throws -> (Customer, String)? {
        try await database.read { sql in
            guard
                let row = try await sql.select().columns((Customer.columns + ["password_hash"]).map { SQLIdentifier($0) })
                    .from("customers").where("username_key", .equal, usernameKey).where("deleted_at", .is, SQLLiteral.null).first()
            else { return nil }
            return (try Customer(row: row), try row.decode(column: "password_hash", as: String.self))
        }
    }

    func insert(_ customer: Customer, passwordHash: String, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "customers")
            .columns(
                "id", "username", "username_key", "email", "email_key", "password_hash", "first_name", "last_name", "is_staff",
                "date_joined"
            )
            .values(
                SQLBind(customer.id), SQLBind(customer.username), SQLBind(customer.username.lowercased()),
                SQLBind(customer.email), SQLBind(customer.email.lowercased()), SQLBind(passwordHash),
                SQLBind(customer.firstName), SQLBind(customer.lastName), SQLBind(customer.isStaff), SQLBind(customer.dateJoined)
            )
            .run()
    }

    /// Writes only the fields given, so concurrent changes to other fields are not undone.
    func update(_ id: UUID, firstName: String?, lastName: String?, email: String?, isStaff: Bool?, on sql: any SQLDatabase) async throws
        -> Customer?
    {
        var update = sql.update("customers")
        var changed = false
        if let firstName {
            update = update.set("first_name", to: firstName)
            changed = true
        }
        if let lastName {
            update = update.set("last_name", to: lastName)
            changed = true
        }
        if let email {
            update = update.set("email", to: email).set("email_key", to: email.lowercased())
            changed = true
        }
        if let isStaff {
            update = update.set("is_staff", to: isStaff)
            changed = true
        }
        if changed { try await update.where("id", .equal, id).where("deleted_at", .is, SQLLiteral.null).run() }
        return try await find(id: id, on: sql)
    }

    /// Which of the two unique keys are already taken by someone else.
    func taken(usernameKey: String?, emailKey: String?, except id: UUID? = nil, on sql: any SQLDatabase) async throws -> (
        username: Bool, email: Bool
    ) {
        var username = false
        var email = false
        if let usernameKey {
            username = try await sql.select().column("id").from("customers").where("username_key", .equal, usernameKey).first() != nil
        }
        if let emailKey {
            var query = sql.select().column("id").from("customers").where("email_key", .equal, emailKey)
            if let id { query = query.where("id", .notEqual, id) }
            email = try await query.first() != nil
        }
        return (username, email)
    }

    func softDelete(id: UUID, at now: Date, on sql: any SQLDatabase) async throws {
        try await sql.update("customers").set("deleted_at", to: now).where("id", .equal, id).run()
        try await sql.update("refresh_tokens").set("revoked_at", to: now)
            .where("customer_id", .equal, id).where("revoked_at", .is, SQLLiteral.null).run()
    }

    func list(page: PageRequest) async throws -> (customers: [Customer], count: Int) {
        try await database.read { sql in
            let count =
                try await sql.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n").from("customers")
                .where("deleted_at", .is, SQLLiteral.null).first()?.decode(column: "n", as: Int.self) ?? 0
            let rows = try await sql.select().columns(Customer.columns.map { SQLIdentifier($0) }).from("customers")
                .where("deleted_at", .is, SQLLiteral.null)
                .orderBy("date_joined").orderBy("id").limit(page.limit).offset(page.offset).all()
            return (try rows.map(Customer.init(row:)), count)
        }
    }

    /// A keyset page of open accounts in username order whose username or e-mail starts with `prefix`: the `limit`
    /// after the username key `position` (or, `backwards`, before it), and whether more lie beyond them that way.
    func page(prefix: String, from position: String?, backwards: Bool, limit: Int) async throws -> (customers: [Customer], more: Bool) {
        let pattern =
            prefix.lowercased().replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
        return try await database.read { sql in
            let query = sql.select().columns(Customer.columns.map { SQLIdentifier($0) }).from("customers")
                .where("deleted_at", .is, SQLLiteral.null)
            if !prefix.isEmpty {
                query.where(
                    SQLQueryString("(username_key LIKE \(bind: pattern) ESCAPE '\\' OR email_key LIKE \(bind: pattern) ESCAPE '\\')"))
            }
            if let position { query.where("username_key", backwards ? .lessThan : .greaterThan, position) }
            let rows = try await query.orderBy("username_key", backwards ? .descending : .ascending).limit(limit + 1).all()
            var customers = try rows.prefix(limit).map(Customer.init(row:))
            if backwards { customers.reverse() }
            return (customers, rows.count > limit)
        }
    }

    /// Whether no account was ever created (the demo seed's test for an empty database).
    func isEmpty() async throws -> Bool {
        try await database.read { sql in try await sql.select().column("id").from("customers").limit(1).first() == nil }
    }

    // MARK: Refresh tokens

    func insertRefreshToken(id: UUID, family: UUID, customerID: UUID, expiresAt: Date, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "refresh_tokens")
            .columns("id", "family", "customer_id", "expires_at")
            .values(SQLBind(id), SQLBind(family), SQLBind(customerID), SQLBind(expiresAt))
            .run()
    }

    /// Marks a live refresh token spent; true when this call spent it (it was live and nobody else had).
    func spendRefreshToken(id: UUID, customerID: UUID, now: Date, on sql: any SQLDatabase) async throws -> Bool {
        let rows = try await sql.update("refresh_tokens").set("spent_at", to: now)
            .where("id", .equal, id).where("customer_id", .equal, customerID)
            .where("spent_at", .is, SQLLiteral.null).where("revoked_at", .is, SQLLiteral.null)
            .where("expires_at", .greaterThan, now)
            .returning("id").all()
        return rows.count == 1
    }

    func isLive(refreshID: UUID, now: Date) async throws -> Bool {
        try await database.read { sql in
            try await sql.select().column("id").from("refresh_tokens")
                .where("id", .equal, refreshID).where("spent_at", .is, SQLLiteral.null)
                .where("revoked_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, now).first() != nil
        }
    }

    func wasSpent(refreshID: UUID, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.select().column("id").from("refresh_tokens")
            .where("id", .equal, refreshID).where("spent_at", .isNot, SQLLiteral.null).first() != nil
    }

    func revokeFamily(_ family: UUID, customerID: UUID, now: Date, on sql: any SQLDatabase) async throws {
        try await sql.update("refresh_tokens").set("revoked_at", to: now)
            .where("family", .equal, family).where("customer_id", .equal, customerID)
            .where("revoked_at", .is, SQLLiteral.null).run()
    }

    /// Drops refresh tokens that expired; run by the janitor.
    func deleteExpiredRefreshTokens(before now: Date) async throws {
        try await database.transaction { sql in
            try await sql.delete(from: "refresh_tokens").where("expires_at", .lessThan, now).run()
        }
    }
}

extension CustomerStore: CartLock {
    /// A row lock on the customer that foreign-key checks do not wait for, on PostgreSQL. SQLite runs one write
    /// transaction at a time anyway.
    func lockCart(of customer: UUID, on sql: any SQLDatabase) async throws {
        guard database.engine == .postgres else { return }
        try await sql.raw("SELECT id FROM customers WHERE id = \(bind: customer) FOR NO KEY UPDATE").run()
    }
}
