import Foundation
import SQLKit

/// The kinds of event the shop publishes; webhook endpoints subscribe to some of them, or to all (`*`).
enum EventType: String, CaseIterable, Codable, Sendable {
    case orderConfirmed = "order.confirmed"
    case orderCancelled = "order.cancelled"
    case orderFulfilled = "order.fulfilled"
}

/// The transactional outbox: an event is written in the transaction of the change it describes, so it exists
/// exactly when the change does and is never lost; the delivery worker later fans it out to webhook endpoints.
struct Outbox: Sendable {
    /// Records `event` with `data` (the event's JSON payload) on the caller's transaction.
    func record(_ event: EventType, data: some Encodable, at now: Date, on sql: any SQLDatabase) async throws {
        try await sql.raw(recording(event, payload: try JSONCoding.encoder.encode(data), at: now).insert).run()
    }

    /// The row that records `event` with its JSON `payload`, for inserting inside a larger statement.
    func recording(_ event: EventType, payload: Data, at now: Date) -> InsertRows {
        InsertRows(
            target: "outbox (id, topic, payload, created_at, attempts)",
            rows: [[UUID.timeOrdered(at: now), event.rawValue, String(decoding: payload, as: UTF8.self), now, 0]])
    }
}
