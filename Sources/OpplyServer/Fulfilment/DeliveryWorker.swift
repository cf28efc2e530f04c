import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Prometheus
import ServiceLifecycle
import Synchronization

#if os(Linux)
    import Glibc
#endif

/// Delivers the outbox to webhook endpoints, on every instance at once without double sends: each round, in one write
/// transaction, records the last sends' outcomes, fans new events out to deliveries and claims due deliveries per
/// endpoint (a lease in the database); then each send slot sends its chain of claimed deliveries, signed per Standard
/// Webhooks. At most `concurrency` sends run at a time and at most `perEndpoint` to one endpoint, so a slow receiver
/// never holds up the others. `2xx` is delivered; anything else is retried on `schedule`, then dead;
/// `410 Gone` disables the endpoint.
struct DeliveryWorker: Service {
    let endpoints: WebhookEndpointStore
    let queue: DeliveryQueue
    let guardrail: WebhookURLGuard
    let clock: WallClock
    let metrics: ShopMetrics
    let logger: Logger
    /// Waits between attempts: after attempt n fails, the next one comes `schedule[n-1]` later; past its end, dead.
    var schedule: [Duration]
    var timeout: Duration = .seconds(10)
    var interval: Duration = .seconds(1)
    var concurrency = 64
    /// The endpoint `WEBHOOK_URL` configures, ensured when the worker starts (so CLI tools never write it); the operator
    /// chose it, so it is not checked against private hosts.
    var configured: WebhookEndpoint?
    var perEndpoint = 16
    /// Deliveries one send slot takes per claim, sent one after another.
    var chain = 16

    /// How long a claimed delivery is held for its sender: past it, another round (on any instance) sends it again.
    /// Long enough for a whole chain to time out.
    var lease: Duration { timeout * (chain + 2) }

    func run() async throws {
        // Sends, their signing and their HTTP, run on their own event loop thread, on Linux at a lower CPU priority
        // (nice 10, the thread's own; elsewhere it would be the whole process's): on a busy instance the shop's
        // requests (on SQLite, the order holding the one writer) come first.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sender = LoopExecutor(loop: loop.next())
        #if os(Linux)
            try? await sender.loop.submit { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) }.get()
        #endif
        let sending = Sending()
        let finished = Finished()
        await withDiscardingTaskGroup { group in
            var measured = ContinuousClock.now - .seconds(1)
            var ensured = configured == nil
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var busy = false
                let outcomes = finished.take()
                var recorded = false
                do {
                    if let configured, !ensured {
                        try await endpoints.ensure(configured)
                        ensured = true
                    }
                    let (round, slots, full) = try await plan(recording: outcomes, sending: sending)
                    let (fanned, claimed) = try await queue.run(round)
                    recorded = true
                    let started = start(claimed, slots: slots, in: &group, on: loop, sender: sender, sending: sending, finished: finished)
                    busy = full || fanned > 0 || started
                    if ContinuousClock.now - measured >= .seconds(1) {
                        measured = ContinuousClock.now
                        let oldest = try await queue.oldestPending()
                        metrics.webhookOldestPending.set(oldest.map { max(0, clock.now.timeIntervalSince($0)) } ?? 0)
                    }
                } catch {
                    // The outcomes go back for the next round, which comes well within their leases; only if none
                    // succeeds before a lease runs out is that delivery sent again (at least once, never lost).
                    if !recorded { finished.add(contentsOf: outcomes) }
                    logger.warning("Webhook delivery round failed; will retry", metadata: ["error": "\(error)"])
                }
                // While there is work, come back soon for what finished sends made room for; while sends are out,
                // soon enough to record their outcomes; idle, poll calmly. Each round is one write, which on SQLite
                // waits for the one writer the orders need too: ten a second at most, each fanning out, claiming and
                // recording everything since the last.
                let pause = busy || sending.inFlight > 0 ? .milliseconds(100) : interval
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
        do {
            try await queue.record(finished.take())
        } catch {
            logger.warning(
                "Could not record the last webhook outcomes; those deliveries are sent again after their leases",
                metadata: ["error": "\(error)"])
        }
        try? await loop.shutdownGracefully()
    }

    /// A round: record `outcomes`, fan out new events when there are any, and claim for each enabled endpoint with free
    /// send slots as many deliveries as its slots take in chains. `full` when some endpoint had no free slot.
    private func plan(recording outcomes: [DeliveryQueue.Outcome], sending: Sending) async throws -> (
        round: DeliveryQueue.Round, slots: [UUID: (endpoint: WebhookEndpoint, free: Int)], full: Bool
    ) {
        let now = clock.now
        var round = DeliveryQueue.Round(outcomes: outcomes, now: now, leaseUntil: now + lease.timeInterval)
        var slots: [UUID: (endpoint: WebhookEndpoint, free: Int)] = [:]
        var full = false
        for endpoint in try await endpoints.enabledEndpoints() {
            let free = sending.free(for: endpoint.id, total: concurrency, perEndpoint: perEndpoint)
            if free > 0 { slots[endpoint.id] = (endpoint, free) } else { full = true }
        }
        let work = try await queue.work(for: Array(slots.keys), at: now)
        if work.events { round.fanOut = now }
        if work.events || !work.due.isEmpty {
            round.claims = slots.map { (endpoint: $0.key, limit: $0.value.free * chain) }
            round.due = work.due
        }
        return (round, slots, full)
    }

    /// Starts one sender per chain of the claimed deliveries, on the send loop; whether any were claimed.
    private func start(
        _ claimed: [UUID: [DeliveryQueue.Claimed]], slots: [UUID: (endpoint: WebhookEndpoint, free: Int)],
        in group: inout DiscardingTaskGroup, on loop: MultiThreadedEventLoopGroup, sender: LoopExecutor, sending: Sending,
        finished: Finished
    ) -> Bool {
        var started = false
        for (id, deliveries) in claimed where !deliveries.isEmpty {
            guard let (endpoint, free) = slots[id] else { continue }
            started = true
            for chain in Self.chains(deliveries, slots: free) {
                sending.start(endpoint.id)
                group.addTask(executorPreference: sender) {
                    await send(chain, to: endpoint, on: loop, finished: finished)
                    sending.finish(endpoint.id)
                }
            }
        }
        return started
    }

    /// Splits one endpoint's claimed deliveries over its free send slots, due order kept within each chain: one claim
    /// feeds a slot for several sends, so the worker needs few writes for many deliveries.
    static func chains(_ deliveries: [DeliveryQueue.Claimed], slots: Int) -> [[DeliveryQueue.Claimed]] {
        let count = min(slots, deliveries.count)
        guard count > 0 else { return [] }
        return (0..<count).map { slot in stride(from: slot, to: deliveries.count, by: count).map { deliveries[$0] } }
    }

    /// Sends a chain one delivery after another. What is left when the instance stops or the endpoint answers `410`
    /// is released, due again at once, its attempt not counted.
    private func send(_ chain: [DeliveryQueue.Claimed], to endpoint: WebhookEndpoint, on loop: any EventLoopGroup, finished: Finished)
        async
    {
        for (index, delivery) in chain.enumerated() {
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else {
                finished.add(contentsOf: chain[index...].map { .release($0, at: clock.now) })
                return
            }
            guard let outcome = await send(delivery, to: endpoint, on: loop) else {
                finished.add(contentsOf: chain[(index + 1)...].map { .release($0, at: clock.now) })
                return
            }
            finished.add(outcome)
        }
    }

    /// One attempt of one delivery, and how it ended, for the next round to record; nil for a `410`, which is
    /// recorded and disables the endpoint at once (recording it again later could undo a staff retry meanwhile).
    func send(_ delivery: DeliveryQueue.Claimed, to endpoint: WebhookEndpoint, on loop: any EventLoopGroup) async
        -> DeliveryQueue.Outcome?
    {
        let now = clock.now
        var statusCode: Int?
        var failure: String?
        do {
            let target = try await guardrail.target(for: endpoint.url, checkInternal: endpoint.id != configured?.id)
            statusCode = try await post(Self.request(for: delivery, to: endpoint, at: now), to: target, on: loop)
        } catch let refusal as WebhookURLGuard.Refusal {
            failure = refusal.reason
        } catch {
            failure = Self.describe(error)
        }
        let finished = clock.now
        var outcome = DeliveryQueue.Outcome(
            delivery: delivery.id, attempt: delivery.attempt, delivered: false, statusCode: statusCode, error: nil, nextAttempt: nil,
            at: finished)
        if let statusCode, (200..<300).contains(statusCode) {
            outcome.delivered = true
            metrics.webhookDeliveries(.delivered).increment()
        } else if statusCode == 410 {
            // Rare, and recorded at once: once the endpoint reads as disabled, its dead delivery is in the log.
            outcome.error = "410 Gone: endpoint disabled"
            do {
                try await queue.record([outcome])
                try await endpoints.disable(endpoint.id, reason: "the receiver answered 410 Gone", at: finished)
                logger.notice("Webhook endpoint answered 410 Gone; disabled", metadata: ["endpoint": "\(endpoint.id)"])
            } catch {
                logger.warning("Could not disable a webhook endpoint", metadata: ["endpoint": "\(endpoint.id)", "error": "\(error)"])
            }
            metrics.webhookDeliveries(.dead).increment()
            return nil
        } else {
            let wait = delivery.attempt <= schedule.count ? schedule[delivery.attempt - 1] : nil
            outcome.error = failure ?? statusCode.map { "HTTP \($0)" }
            outcome.nextAttempt = wait.map { finished + $0.timeInterval }
            metrics.webhookDeliveries(wait == nil ? .dead : .retried).increment()
        }
        return outcome
    }
}

/// Runs the send tasks on the worker's own (niced) event loop thread instead of the shared cooperative pool.
private final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Outcomes of finished sends waiting for the next round to record them.
private final class Finished: Sendable {
    private let outcomes = Mutex<[DeliveryQueue.Outcome]>([])

    func add(_ outcome: DeliveryQueue.Outcome) { outcomes.withLock { $0.append(outcome) } }
    func add(contentsOf more: [DeliveryQueue.Outcome]) { outcomes.withLock { $0.append(contentsOf: more) } }
    func take() -> [DeliveryQueue.Outcome] {
        outcomes.withLock { outcomes in
            defer { outcomes.removeAll() }
            return outcomes
        }
    }
}

/// Sends in progress on this instance, per endpoint, to keep within the worker's limits.
private final class Sending: Sendable {
    private let counts = Mutex<[UUID: Int]>([:])

    func free(for endpoint: UUID, total: Int, perEndpoint: Int) -> Int {
        counts.withLock { counts in min(total - counts.values.reduce(0, +), perEndpoint - counts[endpoint, default: 0]) }
    }
    var inFlight: Int { counts.withLock { $0.values.reduce(0, +) } }
    func start(_ endpoint: UUID) { counts.withLock { $0[endpoint, default: 0] += 1 } }
    func finish(_ endpoint: UUID) { counts.withLock { $0[endpoint, default: 0] -= 1 } }
}
