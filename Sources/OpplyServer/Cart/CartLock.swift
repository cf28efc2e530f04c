import Foundation
import SQLKit

/// Serializes one customer's cart changes, taken first in every cart transaction so that a customer's own requests
/// queue up instead of deadlocking. Identity provides it: the lock is a row lock on the customer.
protocol CartLock: Sendable {
    func lockCart(of customer: UUID, on sql: any SQLDatabase) async throws
}
