import Foundation
import SQLKit

/// One thing a staff member did, for the audit trail: who, when, what kind, on which record, and a short summary of
/// the change (never a secret or a password). The area that makes the change writes it (`record(on:)`) inside the
/// same transaction, so the trail holds exactly the changes that happened, from the back office and the API alike.
struct StaffAction: Encodable, Sendable {
    /// What was done; the part before the dot is the kind of record it was done to.
    enum Kind: String, CaseIterable, Codable, Sendable {
        case productCreated = "product.created"
        case productEdited = "product.edited"
        case productArchived = "product.archived"
        case stockAdjusted = "product.stock_adjusted"
        case categoryCreated = "category.created"
        case categoryRenamed = "category.renamed"
        case orderFulfilled = "order.fulfilled"
        case orderCancelled = "order.cancelled"
        case staffGranted = "customer.staff_granted"
        case staffRevoked = "customer.staff_revoked"
        case customerClosed = "customer.closed"
        case webhookCreated = "webhook.created"
        case webhookChanged = "webhook.changed"
        case webhookRotated = "webhook.secret_rotated"
        case webhookDeleted = "webhook.deleted"
        case deliveryRetried = "webhook.delivery_retried"
        case signedIn = "staff.signed_in"
        case signedOut = "staff.signed_out"

        /// The record's kind: `product`, `category`, `order`, `customer`, `webhook` or `staff`.
        var record: String { String(rawValue.prefix { $0 != "." }) }
    }

    let id: UUID
    let at: Date
    let staff: UUID
    let staffUsername: String
    let kind: Kind
    /// The record's id: a UUID, or a category's slug.
    let record: String
    let summary: String

    init(by staff: Customer, _ kind: Kind, record: String, _ summary: String, at now: Date) {
        id = .timeOrdered(at: now)
        at = now
        self.staff = staff.id
        staffUsername = staff.username
        self.kind = kind
        self.record = record
        self.summary = String(summary.prefix(500))
    }

    init(by staff: Customer, _ kind: Kind, record: UUID, _ summary: String, at now: Date) {
        self.init(by: staff, kind, record: record.uuidString.lowercased(), summary, at: now)
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self)
        at = try row.decode(column: "at", as: Date.self)
        staff = try row.decode(column: "staff_id", as: UUID.self)
        staffUsername = try row.decode(column: "staff_username", as: String.self)
        guard let kind = Kind(rawValue: try row.decode(column: "kind", as: String.self)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unknown staff action kind"))
        }
        self.kind = kind
        record = try row.decode(column: "record_id", as: String.self)
        summary = try row.decode(column: "summary", as: String.self)
    }

    static let columns = ["id", "at", "staff_id", "staff_username", "kind", "record_type", "record_id", "summary"]

    /// Writes the action; call it inside the transaction of the change it records.
    func record(on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "staff_actions").columns(Self.columns)
            .values(
                SQLBind(id), SQLBind(at), SQLBind(staff), SQLBind(staffUsername), SQLBind(kind.rawValue), SQLBind(kind.record),
                SQLBind(record), SQLBind(summary)
            ).run()
    }

    private enum CodingKeys: String, CodingKey { case id, at, staff, staffUsername, kind, recordType, record, summary }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id.uuidString.lowercased(), forKey: .id)
        try container.encode(at, forKey: .at)
        try container.encode(staff.uuidString.lowercased(), forKey: .staff)
        try container.encode(staffUsername, forKey: .staffUsername)
        try container.encode(kind, forKey: .kind)
        try container.encode(kind.record, forKey: .recordType)
        try container.encode(record, forKey: .record)
        try container.encode(summary, forKey: .summary)
    }
}
