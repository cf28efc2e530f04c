import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Delivers the outbox to webhook endpoints, on every instance at once without double sends: each round fans new
/// events out to deliveries, then claims due deliveries per endpoint (a lease in the database) and sends them, signed
/// per Standard Webhooks. At most `concurrency` sends run at a time and at most `perEndpoint` to one endpoint, so a
/// slow receiver never holds up the others. `2xx` is delivered; anything else is retried on `schedule`, then dead;
/// `410 Gone` disables the endpoint.
struct DeliveryWorker: Service {
    let store: FulfilmentStore
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

    /// How long a claimed delivery is held for its sender: past it, another round (on any instance) sends it again.
    var lease: Duration { timeout * 3 }

    func run() async throws {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: TimeAmount(timeout)))
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let sending = Sending()
        let finished = Finished()
        await withDiscardingTaskGroup { group in
            var measured = ContinuousClock.now - .seconds(1)
            var fannedOut = ContinuousClock.now - .seconds(1)
            var backlog = false
            var ensured = configured == nil
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var busy = false
                do {
                    try await record(finished)
                    if let configured, !ensured {
                        try await store.ensure(configured)
                        ensured = true
                    }
                    // New events are fanned out at most ten times a second while sends keep the loop busy (each round
                    // is a write transaction), at once when the last round left more than a batch behind.
                    if backlog || ContinuousClock.now - fannedOut >= .milliseconds(100) {
                        fannedOut = ContinuousClock.now
                        let fanned = try await store.fanOut(at: clock.now, batch: 500)
                        backlog = fanned == 500
                        busy = fanned > 0
                    }
                    for endpoint in try await store.enabledEndpoints() {
                        let free = sending.free(for: endpoint.id, total: concurrency, perEndpoint: perEndpoint)
                        guard free > 0 else {
                            busy = true
                            continue
                        }
                        let now = clock.now
                        let claimed = try await store.claim(endpoint.id, limit: free, at: now, leaseUntil: now + lease.timeInterval)
                        busy = busy || !claimed.isEmpty
                        for delivery in claimed {
                            sending.start(endpoint.id)
                            group.addTask {
                                if let outcome = await send(delivery, to: endpoint, client: client) { finished.add(outcome) }
                                sending.finish(endpoint.id)
                            }
                        }
                    }
                    if ContinuousClock.now - measured >= .seconds(1) {
                        measured = ContinuousClock.now
                        let oldest = try await store.oldestPending()
                        metrics.webhookOldestPending.set(oldest.map { max(0, clock.now.timeIntervalSince($0)) } ?? 0)
                    }
                } catch {
                    logger.warning("Webhook delivery round failed; will retry", metadata: ["error": "\(error)"])
                }
                // While there is work, come back soon for what the finished sends made room for; while sends are
                // out, soon enough to record their outcomes; idle, poll calmly.
                let pause = busy ? .milliseconds(10) : sending.inFlight > 0 ? .milliseconds(50) : interval
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
        try? await record(finished)
        try? await client.shutdown()
    }

    /// Writes what finished sends found, once per round. On failure (a busy database) the outcomes go back for the
    /// next round, which comes well within their leases; only if none succeeds before a lease runs out is that
    /// delivery sent again (at least once, never lost).
    private func record(_ finished: Finished) async throws {
        let outcomes = finished.take()
        do {
            try await store.record(outcomes)
        } catch {
            finished.add(contentsOf: outcomes)
            logger.warning("Could not record webhook delivery outcomes", metadata: ["deliveries": "\(outcomes.count)", "error": "\(error)"])
            throw error
        }
    }

    /// One attempt of one delivery, and how it ended, for the next round to record; nil for a `410`, which is
    /// recorded and disables the endpoint at once (recording it again later could undo a staff retry meanwhile).
    func send(_ delivery: FulfilmentStore.Claimed, to endpoint: WebhookEndpoint, client: HTTPClient) async -> FulfilmentStore.Outcome? {
        let now = clock.now
        let body = Self.body(of: delivery)
        var statusCode: Int?
        var failure: String?
        if endpoint.id != configured?.id, let host = URLComponents(string: endpoint.url)?.host, let refusal = await guardrail.refusal(host: host) {
            failure = refusal
        } else {
            var request = HTTPClientRequest(url: endpoint.url)
            request.method = .POST
            let timestamp = Int(now.timeIntervalSince1970)
            let id = delivery.eventID.uuidString.lowercased()
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "opply-webhooks/1")
            request.headers.add(name: "webhook-id", value: id)
            request.headers.add(name: "webhook-timestamp", value: String(timestamp))
            request.headers.add(name: "webhook-signature", value: WebhookSignature.sign(
                id: id, timestamp: timestamp, body: body, secrets: endpoint.signingSecrets(at: now)))
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await client.execute(request, timeout: .init(timeout))
                statusCode = Int(response.status.code)
                _ = try? await response.body.collect(upTo: 64 * 1024)
            } catch {
                failure = Self.describe(error)
            }
        }
        let finished = clock.now
        var outcome = FulfilmentStore.Outcome(delivery: delivery.id, attempt: delivery.attempt, delivered: false, statusCode: statusCode, error: nil, nextAttempt: nil, at: finished)
        if let statusCode, (200..<300).contains(statusCode) {
            outcome.delivered = true
            metrics.webhookDeliveries(.delivered).increment()
        } else if statusCode == 410 {
            // Rare, and recorded at once: once the endpoint reads as disabled, its dead delivery is in the log.
            outcome.error = "410 Gone: endpoint disabled"
            do {
                try await store.record([outcome])
                try await store.disable(endpoint.id, reason: "the receiver answered 410 Gone", at: finished)
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

    /// `{id, type, created_at, data}`: the same bytes on every attempt, so receivers may dedupe by `webhook-id`.
    static func body(of delivery: FulfilmentStore.Claimed) -> Data {
        let id = delivery.eventID.uuidString.lowercased()
        return Data("{\"id\":\"\(id)\",\"type\":\"\(delivery.type)\",\"created_at\":\"\(Timestamp.format(delivery.eventCreatedAt))\",\"data\":\(delivery.payload)}".utf8)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout { return "timed out" }
        return String(describing: error).prefix(300).description
    }
}

/// Outcomes of finished sends waiting for the next round to record them.
private final class Finished: Sendable {
    private let outcomes = Mutex<[FulfilmentStore.Outcome]>([])

    func add(_ outcome: FulfilmentStore.Outcome) { outcomes.withLock { $0.append(outcome) } }
    func add(contentsOf more: [FulfilmentStore.Outcome]) { outcomes.withLock { $0.append(contentsOf: more) } }
    func take() -> [FulfilmentStore.Outcome] { outcomes.withLock { outcomes in defer { outcomes.removeAll() }; return outcomes } }
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
