import Foundation
public import Hummingbird
import Logging
public import NIOCore

/// The context of every request: its correlation id, the client's address (for the login throttle),
/// and the customer once a bearer token has been checked.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var correlationID = ""
    public var customer: Customer?
    /// The back office's signed-in staff member and the form a `POST` sent, set by `BackOfficeGate`.
    var staffSession: StaffSession?
    var form = Form()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    public var maxUploadSize: Int { JSONCoding.maxBodySize }

    /// The client's address without its port, for throttling. Behind our own proxy (`TRUST_PROXY=true`) that is
    /// the last `X-Forwarded-For` entry, the one the proxy appended; a client cannot forge it.
    func clientAddress(of request: Request, trustProxy: Bool) -> String {
        if trustProxy, let forwarded = request.headers[.init("X-Forwarded-For")!],
            let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty, last.count <= 64
        {
            return last
        }
        return remoteAddress?.ipAddress ?? "unknown"
    }
}

/// The context of a route that needs a signed-in customer: handlers get a non-optional `customer`.
public struct CustomerContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let customer: Customer
    public let correlationID: String

    public init(context: AppRequestContext) throws {
        guard let customer = context.customer else { throw AppError.unauthorized() }
        self.coreContext = context.coreContext
        self.customer = customer
        self.correlationID = context.correlationID
    }

    public var maxUploadSize: Int { JSONCoding.maxBodySize }
}

/// The context of a staff-only route: `401` without a customer, `403` for one who is not staff, so a handler
/// cannot forget the check.
public struct StaffContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let staff: Customer
    public let correlationID: String

    public init(context: AppRequestContext) throws {
        guard let customer = context.customer else { throw AppError.unauthorized() }
        guard customer.isStaff else { throw AppError.forbidden }
        self.coreContext = context.coreContext
        self.staff = customer
        self.correlationID = context.correlationID
    }

    public var maxUploadSize: Int { JSONCoding.maxBodySize }
}
