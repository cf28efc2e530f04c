import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps webhook deliveries off the shop's own network (SSRF): a URL must be `https` (or `http` when allowed), and its
/// host must not resolve to a loopback, private, link-local, shared or metadata address unless that is allowed
/// (`WEBHOOK_ALLOW_HTTP`, `WEBHOOK_ALLOW_PRIVATE`). Checked when an endpoint is saved and again before each delivery,
/// since a name can be pointed elsewhere later.
struct WebhookURLGuard: Sendable {
    var allowHTTP = false
    var allowPrivate = false

    /// The URL as given when it may be used; `400` naming `field` when not.
    func check(_ text: String, field: String) async throws -> String {
        guard text.count <= 2_000, let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            let host = url.host, !host.isEmpty
        else { throw AppError.validation(field: field, "Must be an absolute https URL.") }
        guard scheme == "https" || (scheme == "http" && allowHTTP) else {
            throw AppError.validation(field: field, allowHTTP ? "Must be an http or https URL." : "Must be an https URL.")
        }
        guard url.user == nil, url.password == nil else { throw AppError.validation(field: field, "Must not carry credentials.") }
        if let problem = await refusal(host: host) { throw AppError.validation(field: field, problem) }
        return text
    }

    /// Why deliveries to `host` are refused, or nil when they may go ahead.
    func refusal(host: String) async -> String? {
        if allowPrivate { return nil }
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses = await Self.resolve(name)
        guard !addresses.isEmpty else { return "The host does not resolve." }
        if addresses.contains(where: Self.isInternal) { return "The host resolves to a private, loopback or link-local address." }
        return nil
    }

    /// Every address `host` resolves to, as raw bytes (4 for IPv4, 16 for IPv6); blocking, so off the async pool.
    static func resolve(_ host: String) async -> [[UInt8]] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: blockingResolve(host)) }
        }
    }

    private static func blockingResolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var next = list
        while let entry = next {
            if let address = entry.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        addresses.append(withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) })
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        addresses.append(withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) })
                    }
                default: break
                }
            }
            next = entry.pointee.ai_next
        }
        return addresses
    }

    /// Loopback, private, shared (CGNAT), link-local (cloud metadata), unspecified, multicast and reserved addresses.
    static func isInternal(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 16 {
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return isInternal(Array(bytes[12...])) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) { return true }  // :: and ::1
            if bytes[0] & 0xfe == 0xfc { return true }  // fc00::/7 unique local (AWS's fd00:ec2::254 metadata too)
            if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return true }  // fe80::/10 link-local
            if bytes[0] == 0xff { return true }  // multicast
            return false
        }
        guard bytes.count == 4 else { return true }
        switch (bytes[0], bytes[1]) {
        case (0, _), (10, _), (127, _): return true
        case (100, 64...127): return true
        case (169, 254): return true
        case (172, 16...31): return true
        case (192, 168): return true
        case (198, 18...19): return true
        default: return bytes[0] >= 224
        }
    }
}
