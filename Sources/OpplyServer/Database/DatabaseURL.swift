import Foundation

/// A parsed `DATABASE_URL`: the embedded SQLite file or memory store, or a PostgreSQL server.
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    case sqliteFile(path: String)
    case sqliteMemory
    case postgres(PostgresAddress)

    /// Where a PostgreSQL server is and how to log in; never printed with its password.
    public struct PostgresAddress: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        public var tls: TLSMode
    }

    /// `sslmode` as libpq reads it: `disable`; `prefer` (the default: TLS when the server offers it);
    /// `require` and `verify-full` (TLS with the server's certificate verified, or no connection).
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public init(parsing text: String) throws(ConfigError) {
        if text == "sqlite::memory:" {
            self = .sqliteMemory
            return
        }
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw ConfigError("DATABASE_URL: sqlite:// needs a file path, e.g. sqlite://./opply.sqlite") }
            self = .sqliteFile(path: path)
            return
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"),
            let components = URLComponents(string: text),
            let host = components.host, !host.isEmpty
        else {
            throw ConfigError("DATABASE_URL: expected sqlite://PATH, sqlite::memory: or postgres://user:password@host:port/database")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value
        if let sslmode, !["disable", "prefer", "require", "verify-full"].contains(sslmode) {
            throw ConfigError("DATABASE_URL: unsupported sslmode '\(sslmode)'")
        }
        self = .postgres(
            PostgresAddress(
                host: host,
                port: components.port ?? 5432,
                username: components.user.flatMap { $0.removingPercentEncoding } ?? "postgres",
                password: components.password.flatMap { $0.removingPercentEncoding },
                database: database.isEmpty ? "postgres" : database,
                tls: sslmode == "disable" ? .disable : sslmode == "require" || sslmode == "verify-full" ? .require : .prefer
            )
        )
    }

    public var description: String {
        switch self {
        case .sqliteFile(let path): "sqlite://\(path)"
        case .sqliteMemory: "sqlite::memory:"
        case .postgres(let a): "postgres://\(a.username)@\(a.host):\(a.port)/\(a.database)"
        }
    }
}
