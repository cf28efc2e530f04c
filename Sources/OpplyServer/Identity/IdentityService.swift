import Foundation
import Logging
import SQLKit

/// The identity rules: who may register, log in, refresh, and read or change which customer record.
struct IdentityService: Sendable {
    let store: CustomerStore
    let passwords: Passwords
    let tokens: TokenSigner
    let throttle: LoginThrottle
    let clock: WallClock
    /// Empties a closed account's cart, releasing its stock.
    let carts: any CartReleaser
    /// Accounts behind tokens checked lately; forgotten here whenever this service changes one.
    let recent = RecentCustomers()
    /// Back-office sign-ins, ended here whenever an account is closed or loses its staff rights.
    var sessions: StaffSessionStore { StaffSessionStore(database: store.database) }

    struct Registration: Decodable, Sendable {
        var username: String
        var email: String
        var password: String
        var password2: String
        var firstName: String?
        var lastName: String?
    }

    struct Changes: Decodable, Sendable {
        var firstName: String?
        var lastName: String?
        var email: String?
        var isStaff: Bool?
    }

    // MARK: Registration and login

    /// Registers a customer; `client`, for a registration over HTTP, is counted by the per-address limit.
    func register(_ input: Registration, staff: Bool = false, client: String? = nil) async throws -> Customer {
        let username = Self.normalized(input.username)
        let email = Self.normalized(input.email)
        var problems: [FieldProblem] = []
        if let message = Self.usernameProblem(username) { problems.append(FieldProblem("username", message)) }
        if let message = Self.emailProblem(email) { problems.append(FieldProblem("email", message)) }
        problems += Passwords.problems(password: input.password, username: username, email: email).map { FieldProblem("password", $0) }
        if input.password != input.password2 { problems.append(FieldProblem("password2", "The two password fields didn't match.")) }
        problems += Self.nameProblems(first: input.firstName, last: input.lastName)
        guard problems.isEmpty else { throw AppError.validation(problems) }
        if let client, let wait = throttle.attempt(from: client, now: clock.now) { throw AppError.tooManyRequests(retryAfter: wait) }

        let hash = try await passwords.hash(input.password)
        let customer = Customer(
            id: UUID(), username: username, email: email,
            firstName: input.firstName ?? "", lastName: input.lastName ?? "",
            isStaff: staff, dateJoined: clock.now
        )
        do {
            try await store.database.transaction { sql in
                let taken = try await store.taken(usernameKey: username.lowercased(), emailKey: email.lowercased(), on: sql)
                var problems: [FieldProblem] = []
                if taken.username { problems.append(FieldProblem("username", "A user with that username already exists.")) }
                if taken.email { problems.append(FieldProblem("email", "A user with that email already exists.")) }
                guard problems.isEmpty else { throw AppError.validation(problems) }
                try await store.insert(customer, passwordHash: hash, on: sql)
            }
        } catch {
            // Two registrations racing past the check: the unique index decides, and the loser gets the same 400.
            guard let message = uniqueViolation(error) else { throw error }
            throw message.contains("email")
                ? AppError.validation(field: "email", "A user with that email already exists.")
                : AppError.validation(field: "username", "A user with that username already exists.")
        }
        return customer
    }

    func login(username: String, password: String, client: String) async throws -> TokenPair {
        try await startFamily(for: try await checkPassword(username: username, password: password, client: client).id)
    }

    /// The account a username and password name, counted by the login throttle; `401` when they name none.
    func checkPassword(username: String, password: String, client: String, staffOnly: Bool = false) async throws -> Customer {
        if let wait = throttle.attempt(from: client, now: clock.now) ?? throttle.attempt(username: username, client: client, now: clock.now)
        {
            throw AppError.tooManyRequests(retryAfter: wait)
        }
        let found = try await store.credentials(usernameKey: Self.normalized(username).lowercased())
        let hash = if let found { found.1 } else { try await passwords.decoyHash() }
        let valid = try await passwords.verify(password, hash: hash)
        // A customer's right password is refused like a wrong one: the back office does not say who is staff.
        guard let (customer, _) = found, valid, customer.isStaff || !staffOnly else {
            throw AppError.unauthorized("No active account found with the given credentials.")
        }
        throttle.recordSuccess(username: username, client: client)
        throttle.refund(client)
        return customer
    }

    /// A new token pair in a new refresh family (a login, or `create-user` tooling).
    func startFamily(for customerID: UUID) async throws -> TokenPair {
        let now = clock.now
        let refreshID = UUID()
        let family = UUID()
        try await store.database.transaction { sql in
            try await store.insertRefreshToken(
                id: refreshID, family: family, customerID: customerID, expiresAt: now + tokens.refreshTTL.timeInterval, on: sql)
        }
        return try await tokens.pair(customerID: customerID, refreshID: refreshID, family: family, now: now)
    }

    /// Rotates a refresh token. Presenting a spent one again revokes its whole family: someone holds a copy.
    func refresh(_ token: String) async throws -> TokenPair {
        let claims = try await tokens.verify(token, type: "refresh")
        guard let customerID = claims.customerID, let refreshID = claims.jti.flatMap(UUID.init(uuidString:)),
            let family = claims.fam.flatMap(UUID.init(uuidString:))
        else { throw AppError.unauthorized("Token is invalid or expired.") }
        let now = clock.now
        let newID = UUID()
        try await store.database.transaction { sql in
            guard try await store.spendRefreshToken(id: refreshID, customerID: customerID, now: now, on: sql) else {
                if try await store.wasSpent(refreshID: refreshID, on: sql) {
                    try await store.revokeFamily(family, customerID: customerID, now: now, on: sql)
                    recent.forget(family: family)
                    throw CommitThenThrow(error: AppError.unauthorized("Token was already used; its session has been revoked."))
                }
                throw AppError.unauthorized("Token is invalid or expired.")
            }
            guard try await store.find(id: customerID, on: sql) != nil else { throw AppError.unauthorized("Token is invalid or expired.") }
            try await store.insertRefreshToken(
                id: newID, family: family, customerID: customerID, expiresAt: now + tokens.refreshTTL.timeInterval, on: sql)
        }
        return try await tokens.pair(customerID: customerID, refreshID: newID, family: family, now: now)
    }

    /// Succeeds for an access token of a live account, or a refresh token that is still live.
    func verify(_ token: String) async throws {
        let claims = try await tokens.verify(token)
        if claims.typ == "access" {
            _ = try await authenticate(bearer: token)
        } else if claims.typ == "refresh" {
            guard let id = claims.jti.flatMap(UUID.init(uuidString:)), try await store.isLive(refreshID: id, now: clock.now) else {
                throw AppError.unauthorized("Token is invalid or expired.")
            }
        }
    }

    func logout(refresh token: String, caller: Customer) async throws {
        guard let claims = try? await tokens.verify(token, type: "refresh"), claims.customerID == caller.id,
            let family = claims.fam.flatMap(UUID.init(uuidString:))
        else { throw AppError.validation(field: "refresh", "Token is invalid or expired.") }
        try await store.database.transaction { sql in
            try await store.revokeFamily(family, customerID: caller.id, now: clock.now, on: sql)
        }
        recent.forget(family: family)
    }

    /// The customer an access token belongs to; `401` if the token is bad, the account is gone, or the token's
    /// refresh family was revoked (logout, or a spent refresh token presented again): its access tokens end with it.
    func authenticate(bearer token: String) async throws -> Customer {
        let claims = try await tokens.verify(token, type: "access")
        guard let id = claims.customerID else { throw AppError.unauthorized("Token is invalid or expired.") }
        let family = claims.fam.flatMap(UUID.init(uuidString:))
        let (known, epoch) = recent.customer(family ?? id)
        if let known { return known }
        guard let customer = try await store.find(id: id, liveFamily: family) else {
            throw AppError.unauthorized("Token is invalid or expired.")
        }
        recent.remember(customer, as: family ?? id, readSince: epoch)
        return customer
    }

    // MARK: Customer records

    /// The open account a username names, for staff looking someone up (the order desk's customer filter).
    func customer(username: String) async throws -> Customer? {
        try await store.find(usernameKey: username.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// Usernames for the order desk, by customer id.
    func usernames(of ids: [UUID]) async throws -> [UUID: String] {
        try await store.usernames(of: ids)
    }

    func list(caller: Customer, page: PageRequest) async throws -> (customers: [Customer], count: Int) {
        if caller.isStaff { return try await store.list(page: page) }
        return (page.offset == 0 ? [caller] : [], 1)
    }

    /// Open accounts for staff, in username order, whose username or e-mail starts with `prefix`: a keyset page after
    /// (or, `backwards`, before) the username `position`.
    func customers(matching prefix: String, from position: String?, backwards: Bool, limit: Int) async throws -> (
        customers: [Customer], more: Bool
    ) {
        try await store.page(
            prefix: Self.normalized(prefix), from: position.map { Self.normalized($0).lowercased() }, backwards: backwards, limit: limit)
    }

    /// A record the caller may see: their own, or anyone's for staff. Others' ids answer `404`.
    func customer(_ id: UUID, caller: Customer) async throws -> Customer {
        guard caller.isStaff || caller.id == id, let customer = try await store.find(id: id) else { throw AppError.notFound }
        return customer
    }

    func update(_ id: UUID, with changes: Changes, caller: Customer) async throws -> Customer {
        let current = try await customer(id, caller: caller)
        var problems = Self.nameProblems(first: changes.firstName, last: changes.lastName)
        let email = changes.email.map(Self.normalized)
        if let email, let message = Self.emailProblem(email) { problems.append(FieldProblem("email", message)) }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        var isStaff: Bool?
        if let wanted = changes.isStaff, wanted != current.isStaff {
            guard caller.isStaff else { throw AppError.forbidden }
            guard wanted || id != caller.id else {
                throw AppError.validation(field: "is_staff", "You cannot take away your own staff rights: ask another staff member.")
            }
            isStaff = wanted
        }
        defer { recent.forget(id) }
        do {
            return try await store.database.transaction { sql in
                if let email, try await store.taken(usernameKey: nil, emailKey: email.lowercased(), except: id, on: sql).email {
                    throw AppError.validation(field: "email", "A user with that email already exists.")
                }
                guard
                    let updated = try await store.update(
                        id, firstName: changes.firstName, lastName: changes.lastName, email: email, isStaff: isStaff, on: sql
                    )
                else { throw AppError.notFound }
                if let isStaff {
                    if !isStaff { try await sessions.deleteAll(of: id, on: sql) }
                    let kind: StaffAction.Kind = isStaff ? .staffGranted : .staffRevoked
                    let summary = "\(updated.username): staff rights \(isStaff ? "given" : "taken away")"
                    try await StaffAction(by: caller, kind, record: id, summary, at: clock.now).record(on: sql)
                }
                return updated
            }
        } catch {
            guard uniqueViolation(error) != nil else { throw error }
            throw AppError.validation(field: "email", "A user with that email already exists.")
        }
    }

    /// Closes an account: it can no longer log in, its tokens are revoked and its cart released.
    /// Its orders stay, for the shop's books. A staff member closing someone else's account is in the audit trail.
    func delete(_ id: UUID, caller: Customer) async throws {
        let closing = try await customer(id, caller: caller)
        defer { recent.forget(id) }
        try await store.database.transaction { sql in
            try await carts.empty(for: id, on: sql)
            try await sessions.deleteAll(of: id, on: sql)
            try await store.softDelete(id: id, at: clock.now, on: sql)
            if caller.isStaff, caller.id != id {
                try await StaffAction(by: caller, .customerClosed, record: id, "\(closing.username): account closed", at: clock.now)
                    .record(on: sql)
            }
        }
    }
}
