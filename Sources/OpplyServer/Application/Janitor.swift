import Logging
import ServiceLifecycle

/// A background chore run every `interval` until shutdown (cart sweeper, expired keys and tokens), the first time
/// one interval after start. A failing round is logged and retried next time: a service that throws would stop the
/// whole server. Every chore is a set of conditional statements, safe when many instances run it at once.
struct Janitor: Service {
    let interval: Duration
    let logger: Logger
    let chore: @Sendable () async throws -> Void

    init(every interval: Duration, logger: Logger, chore: @escaping @Sendable () async throws -> Void) {
        self.interval = interval
        self.logger = logger
        self.chore = chore
    }

    func run() async throws {
        while true {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            do {
                try await chore()
            } catch {
                logger.warning("Background chore failed; will retry", metadata: ["error": "\(error)"])
            }
        }
    }
}
