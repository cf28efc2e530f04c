import Foundation
import Logging
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// The embedded store: one writer connection that runs write transactions one at a time (`BEGIN IMMEDIATE`),
/// and a few reader connections that never wait for it (WAL mode). A write waits at most `acquireTimeout` for the
/// writer (and for another process's lock on the file) before answering `503 database_unavailable`; so do a
/// locked, read-only or failing file.
final class SQLiteStore: Database {
    let engine = SQLEngine.sqlite
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncLock()
    private let nextReader = Atomic<Int>(0)
    private let threadPool: NIOThreadPool
    private let inUse = ConnectionsInUse()
    var connectionsInUse: Int { inUse.value }
    private let acquireTimeout: Duration
    private let logger: Logger

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], threadPool: NIOThreadPool, acquireTimeout: Duration, logger: Logger)
    {
        self.writer = writer
        self.readers = readers
        self.threadPool = threadPool
        self.acquireTimeout = acquireTimeout
        self.logger = logger
    }

    /// Opens the file (created when missing), or a private in-memory database when `path` is nil.
    /// The in-memory store has a single connection, so its reads also queue behind writes.
    static func open(path: String?, readerCount: Int = 3, acquireTimeout: Duration = .seconds(2), logger: Logger) async throws
        -> SQLiteStore
    {
        // A new database file is readable by its owner only (it holds password hashes and customers' data); SQLite
        // gives its -wal and -shm files the same mode.
        if let path, !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let threadPool = NIOThreadPool(numberOfThreads: path == nil ? 1 : readerCount + 1)
        threadPool.start()
        let storage: SQLiteConnection.Storage = path.map { .file(path: $0) } ?? .memory
        let writer = try await SQLiteConnection.open(
            storage: storage, threadPool: threadPool, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        if path != nil {
            _ = try await writer.sql(queryLogLevel: nil).raw("PRAGMA journal_mode = WAL").all()
            try await writer.sql(queryLogLevel: nil).raw("PRAGMA synchronous = NORMAL").run()
        }
        var readers: [SQLiteConnection] = []
        if path != nil {
            for _ in 0..<readerCount {
                readers.append(
                    try await SQLiteConnection.open(
                        storage: storage, threadPool: threadPool, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any()))
            }
        }
        for connection in [writer] + readers {
            let busyTimeout = acquireTimeout.components.seconds * 1_000 + acquireTimeout.components.attoseconds / 1_000_000_000_000_000
            try await connection.sql(queryLogLevel: nil).raw("PRAGMA busy_timeout = \(unsafeRaw: String(busyTimeout))").run()
            try await connection.sql(queryLogLevel: nil).raw("PRAGMA foreign_keys = ON").run()
        }
        return SQLiteStore(writer: writer, readers: readers, threadPool: threadPool, acquireTimeout: acquireTimeout, logger: logger)
    }

    func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        if readers.isEmpty {
            return try await withWriter(body)
        }
        let index = nextReader.add(1, ordering: .relaxed).newValue % readers.count
        inUse.enter()
        defer { inUse.leave() }
        return try await mappingUnavailable(logger) { try await body(readers[index].sql(queryLogLevel: nil)) }
    }

    let begin = "BEGIN IMMEDIATE"

    func withWriter<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await mappingUnavailable(logger) {
            try await writeLock.withLock(timeout: acquireTimeout, timedOut: DatabaseUnavailable()) {
                inUse.enter()
                defer { inUse.leave() }
                return try await body(writer.sql(queryLogLevel: nil))
            }
        }
    }

    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await runTransaction(body)
    }

    func close() async {
        for connection in readers + [writer] {
            try? await connection.close()
        }
        try? await threadPool.shutdownGracefully()
    }
}
