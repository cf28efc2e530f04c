import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import OpplyServer

/// A response as tests look at it: status, headers and the JSON body (if any).
struct Reply: @unchecked Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: ByteBuffer

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:] }
    var list: [[String: Any]] { json["results"] as? [[String: Any]] ?? [] }
    var text: String { String(buffer: body) }
    /// The `field` names of a problem's `errors`.
    var fields: [String] { (json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
    var code: String? { json["code"] as? String }
}

extension TestClientProtocol {
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ path: String, json: Any? = nil, raw: String? = nil,
        token: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
            headers[.contentType] = "application/json"
        } else if let raw {
            body = ByteBuffer(string: raw)
            headers[.contentType] = "application/json"
        }
        return try await execute(uri: path, method: method, headers: headers, body: body) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }

    /// Registers a customer and returns their id and access token.
    func signUp(_ username: String, password: String = "correct-horse-9") async throws -> (id: String, token: String) {
        let registered = try await send(
            .post, "/api/identity/register/",
            json: [
                "username": username, "email": "\(username)@example.com", "password": password, "password2": password,
            ])
        #expect(registered.status == .created, "register \(username): \(registered.text)")
        let tokens = try await logIn(username, password: password)
        return (registered.json["id"] as? String ?? "", tokens.access)
    }

    func logIn(_ username: String, password: String = "correct-horse-9") async throws -> (access: String, refresh: String) {
        let reply = try await send(.post, "/api/identity/token/", json: ["username": username, "password": password])
        #expect(reply.status == .ok, "login \(username): \(reply.text)")
        return (reply.json["access"] as? String ?? "", reply.json["refresh"] as? String ?? "")
    }
}

extension Shop {
    /// A staff account and its access token, made the way an operator would (`opply create-user --staff`).
    func staffToken(_ client: some TestClientProtocol, username: String = "staff") async throws -> String {
        _ = try await createUser(username: username, email: "\(username)@example.com", password: "correct-horse-9", staff: true)
        return try await client.logIn(username).access
    }
}

extension TestClientProtocol {
    /// Creates a product as staff and returns its id.
    @discardableResult
    func createProduct(
        _ name: String, price: String = "9.99", quantity: Int = 10, category: String? = nil, description: String = "",
        staff: String
    ) async throws -> String {
        var body: [String: Any] = ["name": name, "price": price, "quantity": quantity, "description": description]
        if let category { body["category"] = category }
        let reply = try await send(.post, "/api/catalog/products/", json: body, token: staff)
        #expect(reply.status == .created, "create \(name): \(reply.text)")
        return reply.json["id"] as? String ?? ""
    }

    func quantity(of product: String) async throws -> Int? {
        try await send(.get, "/api/catalog/products/\(product)/").json["quantity"] as? Int
    }
}

extension Shop {
    /// Fails the test with every broken stock invariant.
    func expectStockInvariants(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let violations = try await stockCheck.run()
        #expect(violations.isEmpty, "\(violations)", sourceLocation: sourceLocation)
    }
}

/// Sends `count` requests at once and returns their statuses.
func concurrentStatuses(_ count: Int, _ request: @escaping @Sendable (Int) async throws -> HTTPResponse.Status) async throws
    -> [HTTPResponse.Status]
{
    try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
        for index in 0..<count { group.addTask { try await request(index) } }
        return try await group.reduce(into: []) { $0.append($1) }
    }
}

extension TestClientProtocol {
    /// Registers `count` customers named `prefix0`, `prefix1`, … and returns their access tokens.
    func signUp(_ prefix: String, count: Int) async throws -> [String] {
        var tokens: [String] = []
        for index in 0..<count { tokens.append(try await signUp("\(prefix)\(index)").token) }
        return tokens
    }

    /// Creates `count` products named `prefix 0`, `prefix 1`, … with `quantity` each, and returns their ids.
    func createProducts(_ prefix: String, count: Int, quantity: Int, staff: String) async throws -> [String] {
        var ids: [String] = []
        for index in 0..<count { ids.append(try await createProduct("\(prefix) \(index)", quantity: quantity, staff: staff)) }
        return ids
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// Sends raw bytes to the server on 127.0.0.1:`port` and reads until it closes the connection or `timeout` passes:
/// for what a well-behaved HTTP client cannot send (stalled requests, broken chunked framing).
func rawExchange(port: Int, _ request: String, timeout: Duration) async throws -> (reply: String, closed: Bool) {
    try await offThePool { try blockingExchange(port: port, request, timeout: timeout) }
}

private func blockingExchange(port: Int, _ request: String, timeout: Duration) throws -> (reply: String, closed: Bool) {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw ConfigError("socket() failed") }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw ConfigError("connect() failed") }
    var wait = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(request.utf8)
    guard send(socket, bytes, bytes.count, 0) == bytes.count else { throw ConfigError("send() failed") }
    var reply: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        let count = recv(socket, &buffer, buffer.count, 0)
        if count == 0 { return (String(decoding: reply, as: UTF8.self), true) }
        if count > 0 { reply += buffer[0..<count] }
    }
    return (String(decoding: reply, as: UTF8.self), false)
}
