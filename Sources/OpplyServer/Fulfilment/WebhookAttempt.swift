import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One attempt at a delivery over HTTP: the signed request, its own connection to the checked address, and how a
/// failure is written in the delivery log.
extension DeliveryWorker {
    /// The signed `POST` of one delivery.
    static func request(for delivery: DeliveryQueue.Claimed, to endpoint: WebhookEndpoint, at now: Date) -> HTTPClientRequest {
        let body = body(of: delivery)
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        let timestamp = Int(now.timeIntervalSince1970)
        let id = delivery.eventID.uuidString.lowercased()
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "opply-webhooks/1")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(
            name: "webhook-signature",
            value: WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secrets: endpoint.signingSecrets(at: now)))
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    /// Sends `request` over a connection of its own to the address `target` was checked at (its host name kept for
    /// `Host`, TLS SNI and the certificate), and returns the answer's status. A client per attempt: no connection is
    /// ever reused across resolutions, so a later answer of the name cannot steer a pooled one.
    func post(_ request: HTTPClientRequest, to target: WebhookURLGuard.Target, on loop: any EventLoopGroup) async throws -> Int {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: TimeAmount(timeout)))
        configuration.httpVersion = .http1Only
        configuration.maximumUsesPerConnection = 1
        configuration.dnsOverride = [target.host: target.address]
        let client = HTTPClient(eventLoopGroupProvider: .shared(loop), configuration: configuration)
        do {
            let response = try await client.execute(request, timeout: .init(timeout))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            try? await client.shutdown()
            return Int(response.status.code)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// `{id, type, created_at, data}`: the same bytes on every attempt, so receivers may dedupe by `webhook-id`.
    static func body(of delivery: DeliveryQueue.Claimed) -> Data {
        let id = delivery.eventID.uuidString.lowercased()
        let created = Timestamp.format(delivery.eventCreatedAt)
        return Data("{\"id\":\"\(id)\",\"type\":\"\(delivery.type)\",\"created_at\":\"\(created)\",\"data\":\(delivery.payload)}".utf8)
    }

    /// A failed attempt as the delivery log keeps it: coarse, so the log cannot tell an open port from a closed one
    /// on someone else's network (nor shows an address).
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError, [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) { return "timeout" }
        if error is NIOSSLError || error is BoringSSLError { return "tls failed" }
        return "connection failed"
    }
}
