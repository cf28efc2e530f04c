public import Foundation
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

    /// Reads the environment; throws a `ConfigError` naming the first bad variable.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> AppConfig {
        var config = AppConfig(jwtSecret: "")
        func value(_ name: String) -> String? {
            guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func integer(_ name: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let raw = value(name) else { return nil }
            guard let number = Int(raw), range.contains(number) else {
                throw ConfigError("\(name): expected a whole number from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
            }
            return number
        }
        func seconds(_ name: String, in range: ClosedRange<Int>) throws(ConfigError) -> Duration? {
            try integer(name, in: range).map { .seconds($0) }
        }

        if let raw = value("APP_ENV") {
            guard let environment = Environment(rawValue: raw.lowercased()) else {
                throw ConfigError("APP_ENV: expected development, test or production, got '\(raw)'")
            }
            config.environment = environment
        }
        config.host = value("HOST") ?? config.host
        config.port = try integer("PORT", in: 0...65_535) ?? config.port
        if let raw = value("DATABASE_URL") { config.databaseURL = try DatabaseURL(parsing: raw) }
        if let raw = value("DATABASE_REPLICA_URL") {
            let replica = try DatabaseURL(parsing: raw)
            guard case .postgres = replica, case .postgres = config.databaseURL else {
                throw ConfigError("DATABASE_REPLICA_URL: a replica needs PostgreSQL for both DATABASE_URL and DATABASE_REPLICA_URL")
            }
            config.replicaURL = replica
        }
        config.databasePoolSize = try integer("DATABASE_POOL_SIZE", in: 1...500) ?? config.databasePoolSize
        config.databaseAcquireTimeout = try seconds("DATABASE_ACQUIRE_TIMEOUT", in: 1...60) ?? config.databaseAcquireTimeout
        if let secret = value("JWT_SECRET") {
            guard secret.utf8.count >= 32 else { throw ConfigError("JWT_SECRET: must be at least 32 bytes") }
            config.jwtSecret = secret
        } else if config.environment == .development {
            config.jwtSecret = randomToken(bytes: 32)
            config.jwtSecretGenerated = true
        } else {
            throw ConfigError("JWT_SECRET: required when APP_ENV is \(config.environment.rawValue) (at least 32 bytes)")
        }
        config.accessTokenTTL = try seconds("ACCESS_TOKEN_TTL", in: 10...86_400) ?? config.accessTokenTTL
        config.refreshTokenTTL = try seconds("REFRESH_TOKEN_TTL", in: 60...31_536_000) ?? config.refreshTokenTTL
        config.cartTTL = try seconds("CART_TTL", in: 1...604_800) ?? config.cartTTL
        config.cartMaxHold = try seconds("CART_MAX_HOLD", in: 1...2_592_000) ?? config.cartMaxHold
        config.idleTimeout = try seconds("HTTP_IDLE_TIMEOUT", in: 1...3_600) ?? config.idleTimeout
        config.readTimeout = try seconds("HTTP_READ_TIMEOUT", in: 1...600) ?? config.readTimeout
        config.maxConnections = try integer("MAX_CONNECTIONS", in: 16...100_000) ?? config.maxConnections
        config.addressAttempts = try integer("LOGIN_ADDRESS_ATTEMPTS", in: 1...1_000_000) ?? config.addressAttempts
        config.passwordQueue = try integer("PASSWORD_QUEUE", in: 1...10_000) ?? config.passwordQueue
        config.catalogCacheTTL = try seconds("CATALOG_CACHE_TTL", in: 0...3_600) ?? config.catalogCacheTTL
        config.catalogCacheSize = try integer("CATALOG_CACHE_SIZE", in: 0...10_000) ?? config.catalogCacheSize
        config.maxOrderQuantity = try integer("MAX_ORDER_QUANTITY", in: 1...1_000_000) ?? config.maxOrderQuantity
        config.bcryptCost = try integer("BCRYPT_COST", in: 4...31).map { UInt8($0) } ?? config.bcryptCost
        if let raw = value("LOG_LEVEL") {
            guard let level = Logger.Level(rawValue: raw.lowercased()) else {
                throw ConfigError("LOG_LEVEL: expected trace, debug, info, notice, warning, error or critical, got '\(raw)'")
            }
            config.logLevel = level
        }
        if let raw = value("LOG_FORMAT") {
            guard let format = LogFormat(rawValue: raw.lowercased()) else {
                throw ConfigError("LOG_FORMAT: expected text or json, got '\(raw)'")
            }
            config.logFormat = format
        } else if config.environment == .production {
            config.logFormat = .json
        }
        if let raw = value("WEBHOOK_URL") {
            guard let url = URLComponents(string: raw), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
                throw ConfigError("WEBHOOK_URL: expected an http(s) URL")
            }
            config.webhookURL = raw
        }
        if let raw = value("WEBHOOK_SECRET") {
            guard WebhookSecret(text: raw) != nil else {
                throw ConfigError("WEBHOOK_SECRET: expected whsec_ followed by base64 of at least 16 bytes, or at least 32 characters")
            }
            config.webhookSecret = raw
        }
        guard (config.webhookURL == nil) == (config.webhookSecret == nil) else {
            throw ConfigError("WEBHOOK_SECRET: WEBHOOK_URL and WEBHOOK_SECRET are set together or not at all")
        }
        func flag(_ name: String) throws(ConfigError) -> Bool? {
            guard let raw = value(name) else { return nil }
            guard let flag = ["true": true, "1": true, "false": false, "0": false][raw.lowercased()] else {
                throw ConfigError("\(name): expected true or false, got '\(raw)'")
            }
            return flag
        }
        config.webhookAllowHTTP = try flag("WEBHOOK_ALLOW_HTTP") ?? false
        config.webhookAllowPrivate = try flag("WEBHOOK_ALLOW_PRIVATE") ?? false
        if let raw = value("WEBHOOK_RETRY_SCHEDULE") {
            let waits = raw.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !waits.isEmpty, waits.count <= 50, waits.allSatisfy({ $0.map { (0...604_800).contains($0) } ?? false }) else {
                throw ConfigError(
                    "WEBHOOK_RETRY_SCHEDULE: expected seconds separated by commas (at most 50, each 0 to 604800), got '\(raw)'")
            }
            config.webhookRetrySchedule = waits.compactMap { $0 }.map { .seconds($0) }
        }
        config.trustProxy = try flag("TRUST_PROXY") ?? false
        if let raw = value("PUBLIC_URL") {
            guard let url = URLComponents(string: raw), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false,
                url.query == nil, url.fragment == nil, url.user == nil
            else { throw ConfigError("PUBLIC_URL: expected an http(s) URL such as https://api.example.com, got '\(raw)'") }
            config.publicURL = raw.hasSuffix("/") ? String(raw.dropLast()) : raw
        }
        config.seedDemoData = config.environment == .development
        return config
    }
}

/// `bytes` random bytes, hex-encoded; for secrets, passwords and opaque ids.
func randomToken(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
}
