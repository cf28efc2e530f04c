import Foundation

/// Every transaction that locks several products' rows locks them in one order, ascending id as text, so two that
/// lock the same products never wait on each other in a cycle (a deadlock, on PostgreSQL).
extension Sequence {
    /// The elements in the order their products' rows are locked.
    func inLockOrder(by product: (Element) -> UUID) -> [Element] {
        map { (key: product($0).uuidString, element: $0) }.sorted { $0.key < $1.key }.map(\.element)
    }
}

extension Sequence<UUID> {
    /// The products in the order their rows are locked.
    func inLockOrder() -> [UUID] { inLockOrder { $0 } }
}
