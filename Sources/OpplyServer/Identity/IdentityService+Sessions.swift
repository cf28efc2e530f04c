import Foundation

/// Back-office sessions: staff sign in with their password and get a session (not tokens), kept in `staff_sessions`.
extension IdentityService {
    /// Signs a staff member in to the back office: a new session with a random 256-bit token and CSRF token.
    func signIn(username: String, password: String, client: String) async throws -> StaffSession {
        let staff = try await checkPassword(username: username, password: password, client: client, staffOnly: true)
        let session = StaffSession(staff: staff, token: randomToken(bytes: 32), csrf: randomToken(bytes: 32))
        let now = clock.now
        try await store.database.transaction { sql in
            try await sessions.insert(idHash: StaffSession.hash(session.token), customer: staff.id, csrf: session.csrf, at: now, on: sql)
            try await StaffAction(by: staff, .signedIn, record: staff.id, "signed in to the back office", at: now).record(on: sql)
        }
        return session
    }

    /// The live session a cookie's token stands for: nil when it is unknown, idle for `StaffSession.idle`, older
    /// than `StaffSession.lifetime`, or its account is closed or no longer staff (an ended session is deleted).
    func staffSession(token: String) async throws -> StaffSession? {
        guard token.utf8.count == 64 else { return nil }
        let idHash = StaffSession.hash(token)
        guard let row = try await sessions.find(idHash: idHash) else { return nil }
        let now = clock.now
        guard row.staff.isStaff, now.timeIntervalSince(row.seenAt) < StaffSession.idle,
            now.timeIntervalSince(row.createdAt) < StaffSession.lifetime
        else {
            try await sessions.delete(idHash: idHash)
            return nil
        }
        if now.timeIntervalSince(row.seenAt) >= StaffSession.touchEvery { try await sessions.touch(idHash: idHash, at: now) }
        return StaffSession(staff: row.staff, token: token, csrf: row.csrf, flash: row.flash)
    }

    func signOut(_ session: StaffSession) async throws {
        try await store.database.transaction { sql in
            guard try await sessions.delete(idHash: StaffSession.hash(session.token), on: sql) else { return }
            let staff = session.staff
            try await StaffAction(by: staff, .signedOut, record: staff.id, "signed out of the back office", at: clock.now).record(on: sql)
        }
    }

    /// Keeps `text` for the session's next page (nil clears it once shown).
    func flash(_ text: String?, for session: StaffSession) async throws {
        try await sessions.setFlash(text.map { String($0.prefix(2_000)) }, idHash: StaffSession.hash(session.token))
    }

    /// Drops ended sessions; run by the janitor.
    func deleteEndedSessions() async throws {
        let now = clock.now
        try await sessions.deleteExpired(idleBefore: now - StaffSession.idle, createdBefore: now - StaffSession.lifetime)
    }
}
