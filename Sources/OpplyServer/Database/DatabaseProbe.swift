import Logging
import ServiceLifecycle
import Synchronization

/// Watches whether a database answers, so `/health/ready` can tell the load balancer within two seconds of the
/// primary going away or coming back, without one connection attempt per health check: one probe at a time, every
/// `interval` while it answers, and with jittered backoff (capped at `maxBackoff`) while it does not.
final class DatabaseProbe: Service, Sendable {
    let database: any Database
    let role: String
    private let interval: Duration
    private let timeout: Duration
    private let maxBackoff: Duration
    private let logger: Logger
    private let answering = Atomic<Bool>(true)
    /// Probes run so far (tests wait for one after a change).
    let probes = Atomic<Int>(0)

    init(
        _ database: any Database, role: String, interval: Duration = .milliseconds(500), timeout: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(1), logger: Logger
    ) {
        self.database = database
        self.role = role
        self.interval = interval
        self.timeout = timeout
        self.maxBackoff = maxBackoff
        self.logger = logger
    }

    /// Whether the last probe got an answer (true until the first probe says otherwise).
    var isAnswering: Bool { answering.load(ordering: .relaxed) }

    func run() async throws {
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let answered = await probe()
            probes.add(1, ordering: .relaxed)
            let was = answering.exchange(answered, ordering: .relaxed)
            if was != answered {
                if answered {
                    logger.notice("Database answers again", metadata: ["role": "\(role)"])
                } else {
                    logger.warning("Database does not answer", metadata: ["role": "\(role)"])
                }
            }
            failures = answered ? 0 : failures + 1
            let wait = answered ? interval : Self.backoff(after: failures, cap: maxBackoff)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
        }
    }

    /// 100 ms doubled per failure up to `cap`, then a random 50–100 % of it, so instances spread their attempts.
    static func backoff(after failures: Int, cap: Duration) -> Duration {
        let base = min(Duration.milliseconds(100) * (1 << min(failures - 1, 16)), cap)
        return base * Double.random(in: 0.5...1)
    }

    /// One `SELECT 1`, raced against `timeout`; a ping still running at the deadline is cancelled.
    private func probe() async -> Bool {
        (try? await withDeadline(timeout, orThrow: CancellationError()) { [database] in try await database.ping() }) != nil
    }
}
