import Foundation
public import Logging

/// A configuration value that cannot be used; its message names the variable, for one clear line at start-up.
public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Every setting the server reads, parsed once from the environment and validated before anything starts.
public struct AppConfig: Sendable {
    public enum Environment: String, Sendable { case development, test, production }
    public enum LogFormat: String, Sendable { case text, json }

    public var environment: Environment = .development
    public var host = "127.0.0.1"
    public var port = 8080
    public var databaseURL: DatabaseURL = .sqliteFile(path: "./opply.sqlite")
    public var replicaURL: DatabaseURL?
    public var databasePoolSize = 20
    /// How long a request waits for a database connection (or the SQLite writer) before answering `503`.
    public var databaseAcquireTimeout: Duration = .seconds(2)
    /// How long the readiness probe's `SELECT 1` may take before the database counts as gone (tests on a loaded
    /// machine give it longer; not an environment setting).
    public var databaseProbeTimeout: Duration = .seconds(1)
    /// HMAC key for tokens; in development a random one is generated when absent.
    public var jwtSecret: String
    public var jwtSecretGenerated = false
    public var accessTokenTTL: Duration = .seconds(900)
    public var refreshTokenTTL: Duration = .seconds(604_800)
    public var cartTTL: Duration = .seconds(900)
    /// The longest a cart line's reservation lasts after it was added, however often the cart is touched.
    public var cartMaxHold: Duration = .seconds(3_600)
    public var catalogCacheTTL: Duration = .seconds(2)
    public var catalogCacheSize = 1_000
    public var maxOrderQuantity = 1_000
    /// The most orders written in one transaction (`OrderCombiner`); 1 writes each order on its own.
    public var orderBatchSize = 64
    /// The most orders waiting for their batch; past it an order is answered `503` with `Retry-After`.
    public var orderQueue = 4_096
    /// Batches of orders written at once on PostgreSQL (SQLite writes one transaction at a time).
    public var orderWriters = 4
    public var bcryptCost: UInt8 = 12
    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .text
    /// An endpoint receiving every event, ensured at start, signed with `webhookSecret` (both or neither).
    public var webhookURL: String?
    public var webhookSecret: String?
    /// Whether staff may register `http` endpoints, and endpoints on private or loopback hosts (tests, local demos).
    public var webhookAllowHTTP = false
    public var webhookAllowPrivate = false
    /// How webhook hosts are resolved and which addresses count as internal: the system's, unless a test programs them.
    var webhookResolve: WebhookURLGuard.Resolve?
    var webhookIsInternal: (@Sendable ([UInt8]) -> Bool)?
    /// Waits between a failed delivery attempt and the next; past the last, the delivery is dead (about three days).
    public var webhookRetrySchedule: [Duration] = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400].map { .seconds($0) }
    /// How long a receiver has to answer one delivery.
    public var webhookTimeout: Duration = .seconds(10)
    /// How often background services (cart sweeper, janitor) wake up.
    public var backgroundInterval: Duration = .seconds(2)
    /// How long a catalog read waits for the replica before the primary answers it, and how long a failed replica
    /// then rests (not read from the environment: the defaults suit production; tests stretch them).
    public var replicaTimeout: Duration = .seconds(1)
    public var replicaRest: Duration = .seconds(5)
    /// Whether `serve` creates a demo catalog and an `admin` account on an empty development database.
    public var seedDemoData = false
    /// Whether the server runs behind our own proxy, which appends the client's address to `X-Forwarded-For`.
    public var trustProxy = false
    /// The shop's public address (`https://api.opply.example`), which page links start with; relative links without it.
    public var publicURL: String?
    /// How long a connection may sit without sending a byte (idle keep-alive, or a request that stalls) before it
    /// is closed; longer than a load balancer's own idle timeout (60 s on AWS), so the balancer closes first.
    public var idleTimeout: Duration = .seconds(75)
    /// How long a request's head and body may take to arrive once due (a stalled upload is closed).
    public var readTimeout: Duration = .seconds(20)
    /// Open connections per instance; past it, new ones wait in the listen backlog until one closes.
    public var maxConnections = 512
    /// Failed logins allowed per username and client before `429`, and the window they are counted in.
    public var loginAttempts = 5
    public var loginWindow: Duration = .seconds(300)
    /// Sign-ins and registrations allowed per client address (IPv6 per /64) in `loginWindow`, whatever the username.
    public var addressAttempts = 30
    /// Password checks and hashes waiting or running at once; past it, `503` with `Retry-After` before any hashing.
    public var passwordQueue = max(2, 2 * (ProcessInfo.processInfo.activeProcessorCount - 1))

    /// A configuration for tests and tools: in-memory SQLite, a fixed secret, fast bcrypt.
    public init(jwtSecret: String = String(repeating: "t", count: 32)) {
        self.jwtSecret = jwtSecret
    }

    /// Why the server may not listen where this configuration says, or nil: development makes its own JWT secret and
    /// prints an admin password, so it listens on loopback only.
    public var listeningProblem: String? {
        guard environment == .development, !["127.0.0.1", "::1", "localhost"].contains(host) else { return nil }
        return "APP_ENV=development listens on loopback only (127.0.0.1, ::1); set APP_ENV=production to listen on \(host)"
    }
}

/// `bytes` random bytes, hex-encoded; for secrets, passwords and opaque ids.
func randomToken(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
}
