import Foundation
import Hummingbird

extension RequestContext {
    /// A UUID path parameter; anything else names no resource, so `404`.
    func uuid(_ name: String) throws -> UUID {
        guard let raw = parameters.get(name), let id = UUID(uuidString: raw) else { throw AppError.notFound }
        return id
    }
}
