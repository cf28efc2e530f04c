import HummingbirdBcrypt
import NIOCore
import NIOPosix
import Synchronization

/// Password rules and bcrypt hashing; hashing always runs on `hashing`, never on an event loop.
struct Passwords: Sendable {
    /// The threads bcrypt runs on: one fewer than the cores (at least one), so a storm of logins at cost 12 always
    /// leaves a core to the event loops and the database driver, and every other request keeps its latency; logins
    /// queue for a thread instead. One pool for the process, like `NIOThreadPool.singleton`, whose threads it spares.
    static let hashing: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, System.coreCount - 1))
        pool.start()
        return pool
    }()

    let cost: UInt8
    private let decoy = Decoy()
    /// Checks and hashes waiting or running now, and how many may: past it a request is answered `503` at once,
    /// so a flood of logins cannot queue a real user's behind minutes of hashing.
    private let queue: Queue

    init(cost: UInt8, queueLimit: Int = 64) {
        self.cost = cost
        self.queue = Queue(limit: queueLimit)
    }

    private final class Queue: Sendable {
        let limit: Int
        private let waiting = Atomic<Int>(0)
        init(limit: Int) { self.limit = limit }

        /// Runs `work` when there is room for it; `503` with `Retry-After` when there is none.
        func run<T: Sendable>(_ work: () async throws -> T) async throws -> T {
            guard waiting.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
                waiting.wrappingSubtract(1, ordering: .relaxed)
                throw AppError.busy(retryAfter: 1)
            }
            defer { waiting.wrappingSubtract(1, ordering: .relaxed) }
            return try await work()
        }
    }

    /// A valid hash of a random password at the same cost: checked when the username is unknown, so a login takes
    /// the same time whether or not the account exists. Made on first need, so CLI tools never pay for it.
    func decoyHash() async throws -> String {
        if let hash = decoy.hash.withLock({ $0 }) { return hash }
        let hash = try await self.hash(randomToken(bytes: 16))
        return decoy.hash.withLock { stored in
            if stored == nil { stored = hash }
            return stored ?? hash
        }
    }

    private final class Decoy: Sendable {
        let hash = Mutex<String?>(nil)
    }

    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await queue.run { try await Self.hashing.runIfActive { Bcrypt.hash(password, cost: cost) } }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await queue.run { try await Self.hashing.runIfActive { Bcrypt.verify(password, hash: hash) } }
    }

    /// What is wrong with `password` for this username, or nil when it may be used.
    static func problems(password: String, username: String, email: String = "") -> [String] {
        var problems: [String] = []
        if password.count < 8 { problems.append("This password is too short. It must contain at least 8 characters.") }
        if password.utf8.count > 72 { problems.append("This password is too long. It must be at most 72 bytes.") }
        if !password.isEmpty, password.allSatisfy(\.isNumber) { problems.append("This password is entirely numeric.") }
        if !username.isEmpty, password.lowercased() == username.lowercased() {
            problems.append("The password is too similar to the username.")
        }
        if !email.isEmpty, password.lowercased() == email.lowercased() {
            problems.append("The password is too similar to the email address.")
        }
        if common.contains(password.lowercased()) { problems.append("This password is too common.") }
        return problems
    }

    static let common: Set<String> = [
        "password", "password1", "password12", "password123", "password!", "passw0rd", "p@ssw0rd", "p@ssword",
        "12345678", "123456789", "1234567890", "qwerty123", "qwertyuiop", "qwerty12", "1q2w3e4r", "1qaz2wsx",
        "iloveyou", "sunshine", "princess", "football", "baseball", "welcome1", "welcome123", "admin123",
        "letmein1", "letmein123", "trustno1", "superman", "batman123", "dragon123", "monkey123", "starwars",
        "whatever", "abc12345", "abcd1234", "zaq12wsx", "changeme", "changeme1", "master123", "shadow123",
        "michael1", "jennifer", "computer", "internet", "mustang1", "access14", "freedom1", "qazwsxedc",
        "asdfghjkl", "zxcvbnm1", "11111111", "00000000", "88888888", "iloveyou1", "secret123", "default1",
        "administrator", "opplyshop", "testtest", "test1234", "guest123", "hello123", "loveme12",
    ]
}
