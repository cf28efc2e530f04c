public import Foundation
import SQLKit

/// A registered shopper (or staff member) as the API shows it; the password hash never leaves the store.
public struct Customer: Codable, Sendable, Equatable {
    @LowercaseUUID public var id: UUID
    public var username: String
    public var email: String
    public var firstName: String
    public var lastName: String
    public var isStaff: Bool
    public var dateJoined: Date

    init(row: any SQLRow) throws {
        self.id = try row.decode(column: "id", as: UUID.self)
        self.username = try row.decode(column: "username", as: String.self)
        self.email = try row.decode(column: "email", as: String.self)
        self.firstName = try row.decode(column: "first_name", as: String.self)
        self.lastName = try row.decode(column: "last_name", as: String.self)
        self.isStaff = try row.decode(column: "is_staff", as: Bool.self)
        self.dateJoined = try row.decode(column: "date_joined", as: Date.self)
    }

    init(id: UUID, username: String, email: String, firstName: String, lastName: String, isStaff: Bool, dateJoined: Date) {
        self._id = LowercaseUUID(wrappedValue: id)
        self.username = username
        self.email = email
        self.firstName = firstName
        self.lastName = lastName
        self.isStaff = isStaff
        self.dateJoined = dateJoined
    }

    static let columns = ["id", "username", "email", "first_name", "last_name", "is_staff", "date_joined"]
    /// `columns` as a select list.
    static let selectList = columns.joined(separator: ", ")
}

/// Encodes a UUID the way the API promises: a lower-case string.
@propertyWrapper
public struct LowercaseUUID: Codable, Sendable, Hashable {
    public var wrappedValue: UUID
    public init(wrappedValue: UUID) { self.wrappedValue = wrappedValue }
    public init(from decoder: any Decoder) throws { wrappedValue = try UUID(from: decoder) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.uuidString.lowercased())
    }
}
