public import Foundation
import Logging

extension AppConfig {
    /// Reads the environment; throws a `ConfigError` naming the first bad variable.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> AppConfig {
        let read = EnvironmentReader(env: env)
        var config = AppConfig(jwtSecret: "")
        try config.readServer(read)
        try config.readSecrets(read)
        try config.readLimits(read)
        try config.readLogging(read)
        try config.readWebhooks(read)
        config.seedDemoData = config.environment == .development
        return config
    }

    private mutating func readServer(_ read: EnvironmentReader) throws(ConfigError) {
        if let raw = read.value("APP_ENV") {
            guard let environment = Environment(rawValue: raw.lowercased()) else {
                throw ConfigError("APP_ENV: expected development, test or production, got '\(raw)'")
            }
            self.environment = environment
        }
        host = read.value("HOST") ?? host
        port = try read.integer("PORT", in: 0...65_535) ?? port
        if let raw = read.value("DATABASE_URL") { databaseURL = try DatabaseURL(parsing: raw) }
        if let raw = read.value("DATABASE_REPLICA_URL") {
            let replica = try DatabaseURL(parsing: raw)
            guard case .postgres = replica, case .postgres = databaseURL else {
                throw ConfigError("DATABASE_REPLICA_URL: a replica needs PostgreSQL for both DATABASE_URL and DATABASE_REPLICA_URL")
            }
            replicaURL = replica
        }
        databasePoolSize = try read.integer("DATABASE_POOL_SIZE", in: 1...500) ?? databasePoolSize
        databaseAcquireTimeout = try read.seconds("DATABASE_ACQUIRE_TIMEOUT", in: 1...60) ?? databaseAcquireTimeout
        trustProxy = try read.flag("TRUST_PROXY") ?? false
        if let raw = read.value("PUBLIC_URL") {
            guard let url = URLComponents(string: raw), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false,
                url.query == nil, url.fragment == nil, url.user == nil
            else { throw ConfigError("PUBLIC_URL: expected an http(s) URL such as https://api.example.com, got '\(raw)'") }
            publicURL = raw.hasSuffix("/") ? String(raw.dropLast()) : raw
        }
    }

    /// The JWT secret: required outside development, where a random one is made for the run.
    private mutating func readSecrets(_ read: EnvironmentReader) throws(ConfigError) {
        if let secret = read.value("JWT_SECRET") {
            guard secret.utf8.count >= 32 else { throw ConfigError("JWT_SECRET: must be at least 32 bytes") }
            jwtSecret = secret
        } else if environment == .development {
            jwtSecret = randomToken(bytes: 32)
            jwtSecretGenerated = true
        } else {
            throw ConfigError("JWT_SECRET: required when APP_ENV is \(environment.rawValue) (at least 32 bytes)")
        }
        bcryptCost = try read.integer("BCRYPT_COST", in: 4...31).map { UInt8($0) } ?? bcryptCost
    }

    private mutating func readLimits(_ read: EnvironmentReader) throws(ConfigError) {
        accessTokenTTL = try read.seconds("ACCESS_TOKEN_TTL", in: 10...86_400) ?? accessTokenTTL
        refreshTokenTTL = try read.seconds("REFRESH_TOKEN_TTL", in: 60...31_536_000) ?? refreshTokenTTL
        cartTTL = try read.seconds("CART_TTL", in: 1...604_800) ?? cartTTL
        cartMaxHold = try read.seconds("CART_MAX_HOLD", in: 1...2_592_000) ?? cartMaxHold
        idleTimeout = try read.seconds("HTTP_IDLE_TIMEOUT", in: 1...3_600) ?? idleTimeout
        readTimeout = try read.seconds("HTTP_READ_TIMEOUT", in: 1...600) ?? readTimeout
        maxConnections = try read.integer("MAX_CONNECTIONS", in: 16...100_000) ?? maxConnections
        addressAttempts = try read.integer("LOGIN_ADDRESS_ATTEMPTS", in: 1...1_000_000) ?? addressAttempts
        passwordQueue = try read.integer("PASSWORD_QUEUE", in: 1...10_000) ?? passwordQueue
        catalogCacheTTL = try read.seconds("CATALOG_CACHE_TTL", in: 0...3_600) ?? catalogCacheTTL
        catalogCacheSize = try read.integer("CATALOG_CACHE_SIZE", in: 0...10_000) ?? catalogCacheSize
        maxOrderQuantity = try read.integer("MAX_ORDER_QUANTITY", in: 1...1_000_000) ?? maxOrderQuantity
        orderBatchSize = try read.integer("ORDER_BATCH_SIZE", in: 1...200) ?? orderBatchSize
        orderQueue = try read.integer("ORDER_QUEUE", in: 1...1_000_000) ?? orderQueue
        orderWriters = try read.integer("ORDER_WRITERS", in: 1...64) ?? orderWriters
    }

    private mutating func readLogging(_ read: EnvironmentReader) throws(ConfigError) {
        if let raw = read.value("LOG_LEVEL") {
            guard let level = Logger.Level(rawValue: raw.lowercased()) else {
                throw ConfigError("LOG_LEVEL: expected trace, debug, info, notice, warning, error or critical, got '\(raw)'")
            }
            logLevel = level
        }
        if let raw = read.value("LOG_FORMAT") {
            guard let format = LogFormat(rawValue: raw.lowercased()) else {
                throw ConfigError("LOG_FORMAT: expected text or json, got '\(raw)'")
            }
            logFormat = format
        } else if environment == .production {
            logFormat = .json
        }
    }

    private mutating func readWebhooks(_ read: EnvironmentReader) throws(ConfigError) {
        if let raw = read.value("WEBHOOK_URL") {
            guard let url = URLComponents(string: raw), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
                throw ConfigError("WEBHOOK_URL: expected an http(s) URL")
            }
            webhookURL = raw
        }
        if let raw = read.value("WEBHOOK_SECRET") {
            guard WebhookSecret(text: raw) != nil else {
                throw ConfigError("WEBHOOK_SECRET: expected whsec_ followed by base64 of at least 16 bytes, or at least 32 characters")
            }
            webhookSecret = raw
        }
        guard (webhookURL == nil) == (webhookSecret == nil) else {
            throw ConfigError("WEBHOOK_SECRET: WEBHOOK_URL and WEBHOOK_SECRET are set together or not at all")
        }
        webhookAllowHTTP = try read.flag("WEBHOOK_ALLOW_HTTP") ?? false
        webhookAllowPrivate = try read.flag("WEBHOOK_ALLOW_PRIVATE") ?? false
        if let raw = read.value("WEBHOOK_RETRY_SCHEDULE") {
            let waits = raw.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !waits.isEmpty, waits.count <= 50, waits.allSatisfy({ $0.map { (0...604_800).contains($0) } ?? false }) else {
                throw ConfigError(
                    "WEBHOOK_RETRY_SCHEDULE: expected seconds separated by commas (at most 50, each 0 to 604800), got '\(raw)'")
            }
            webhookRetrySchedule = waits.compactMap { $0 }.map { .seconds($0) }
        }
    }
}

/// The environment's variables as the configuration reads them: blank is unset, and a bad value names its variable.
private struct EnvironmentReader {
    let env: [String: String]

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

    func flag(_ name: String) throws(ConfigError) -> Bool? {
        guard let raw = value(name) else { return nil }
        guard let flag = ["true": true, "1": true, "false": false, "0": false][raw.lowercased()] else {
            throw ConfigError("\(name): expected true or false, got '\(raw)'")
        }
        return flag
    }
}
