public import Foundation

/// The current time, injectable so tests can move it (cart expiry, token lifetimes).
public struct WallClock: Sendable {
    private let source: @Sendable () -> Date
    public init(_ source: @escaping @Sendable () -> Date = { Date() }) { self.source = source }
    public var now: Date { source() }
}
