import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps webhook deliveries off the shop's own network (SSRF): a URL must be `https` (or `http` when allowed) on a
/// port from 1 to 65535, and its host must resolve to global unicast addresses only unless private ones are allowed
/// (`WEBHOOK_ALLOW_HTTP`, `WEBHOOK_ALLOW_PRIVATE`). Checked when an endpoint is saved, and resolved afresh for each
/// delivery attempt, which then connects to the very address that was checked (`Target`): a name that answers a
/// public address to the check and an internal one to a second lookup (DNS rebinding) never gets a second lookup.
struct WebhookURLGuard: Sendable {
    var allowHTTP = false
    var allowPrivate = false
    /// Resolves a host name to addresses (raw bytes: 4 for IPv4, 16 for IPv6): the system's resolver, or one a test
    /// programs.
    var resolve: Resolve = WebhookURLGuard.systemResolve
    /// Which addresses are internal (a test may count a loopback address of its own as public).
    var internalAddress: @Sendable ([UInt8]) -> Bool = WebhookURLGuard.isInternal(_:)

    typealias Resolve = @Sendable (_ host: String) async -> [[UInt8]]

    /// Where one delivery attempt goes: the URL's host (for `Host`, TLS SNI and the certificate check) and the
    /// address it was checked at, which the connection is made to.
    struct Target: Sendable, Equatable {
        let host: String
        let address: String
    }

    /// Why a URL may not be delivered to; the text is what staff and the delivery log see.
    struct Refusal: Error, Equatable {
        let reason: String
    }

    /// The URL as given when it may be used; `400` naming `field` when not.
    func check(_ text: String, field: String) async throws -> String {
        guard text.utf8.count <= 2_000, let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            let host = url.host, !host.isEmpty
        else { throw AppError.validation(field: field, "Must be an absolute https URL.") }
        guard scheme == "https" || (scheme == "http" && allowHTTP) else {
            throw AppError.validation(field: field, allowHTTP ? "Must be an http or https URL." : "Must be an https URL.")
        }
        guard url.user == nil, url.password == nil else { throw AppError.validation(field: field, "Must not carry credentials.") }
        guard !allowPrivate else {
            // Nothing to refuse by address: a name that does not resolve yet may be saved (each attempt resolves it).
            guard (1...65_535).contains(url.port ?? 443) else {
                throw AppError.validation(field: field, "The port must be from 1 to 65535.")
            }
            return text
        }
        do {
            _ = try await target(for: text)
        } catch {
            throw AppError.validation(field: field, error.reason)
        }
        return text
    }

    /// Resolves the URL's host once and picks the address an attempt connects to; refuses a port outside 1–65535, a
    /// host that does not resolve, and (unless private hosts are allowed, or `checkInternal` is false for the
    /// operator's own `WEBHOOK_URL`) a host any of whose addresses is internal.
    func target(for text: String, checkInternal: Bool = true) async throws(Refusal) -> Target {
        // The host as async-http-client reads it from the URL, so its connection target is the one overridden.
        guard let url = URL(string: text), var host = url.host, !host.isEmpty, !host.contains("%") else {
            throw Refusal(reason: "The URL has no usable host.")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let port = URLComponents(string: text)?.port, !(1...65_535).contains(port) {
            throw Refusal(reason: "The port must be from 1 to 65535.")
        }
        let addresses = await resolve(host)
        guard let first = addresses.first, let address = Self.text(of: first) else { throw Refusal(reason: "The host does not resolve.") }
        if checkInternal, !allowPrivate, addresses.contains(where: internalAddress) {
            throw Refusal(reason: "The host resolves to a private, loopback, link-local or reserved address.")
        }
        return Target(host: host, address: address)
    }

    /// An address's usual text form (`203.0.113.7`, `2001:db8::1`).
    static func text(of bytes: [UInt8]) -> String? {
        let family = bytes.count == 4 ? AF_INET : bytes.count == 16 ? AF_INET6 : -1
        guard family >= 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return written == nil ? nil : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Every address `host` resolves to, from the system's resolver; blocking, so off the async pool.
    static let systemResolve: Resolve = { host in
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

    /// Anything but global unicast: loopback, private, shared (CGNAT), link-local (cloud metadata), unspecified,
    /// multicast, reserved, documentation and benchmarking ranges, and IPv6 forms that carry an IPv4 address inside
    /// (mapped, compatible, NAT64, 6to4, Teredo), judged by that address.
    static func isInternal(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 16 { return isInternal(v6: bytes) }
        guard bytes.count == 4 else { return true }
        switch (bytes[0], bytes[1], bytes[2]) {
        case (0, _, _), (10, _, _), (127, _, _): return true
        case (100, 64...127, _): return true  // shared address space (CGNAT)
        case (169, 254, _): return true  // link-local, cloud metadata
        case (172, 16...31, _), (192, 168, _): return true
        case (192, 0, 0), (192, 0, 2), (192, 88, 99): return true  // IETF protocol assignments, TEST-NET-1, 6to4 relay
        case (198, 18...19, _): return true  // benchmarking
        case (198, 51, 100), (203, 0, 113): return true  // TEST-NET-2 and -3
        default: return bytes[0] >= 224  // multicast, reserved, broadcast
        }
    }

    private static func isInternal(v6 bytes: [UInt8]) -> Bool {
        let prefix = { (count: Int, of: [UInt8]) in bytes.prefix(count).elementsEqual(of) }
        let embedded = { (from: Int) in isInternal(Array(bytes[from..<(from + 4)])) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) {
            // ::/96 (unspecified, loopback, IPv4-compatible) and ::ffff:0:0/96 (mapped): an IPv4 address inside.
            if bytes[10] == 0 && bytes[11] == 0 { return true }
            if bytes[10] == 0xff && bytes[11] == 0xff { return embedded(12) }
            return true
        }
        if prefix(12, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]) { return true }  // ::ffff:0:a.b.c.d (SIIT)
        if prefix(12, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]) { return embedded(12) }  // NAT64 64:ff9b::/96
        if prefix(6, [0, 0x64, 0xff, 0x9b, 0, 1]) { return true }  // local-use NAT64 64:ff9b:1::/48
        if prefix(2, [0x20, 0x02]) { return embedded(2) }  // 6to4 2002::/16
        if prefix(4, [0x20, 0x01, 0, 0]) { return true }  // Teredo 2001::/32
        if prefix(4, [0x20, 0x01, 0x0d, 0xb8]) { return true }  // documentation 2001:db8::/32
        if prefix(8, [0x01, 0, 0, 0, 0, 0, 0, 0]) { return true }  // discard-only 100::/64
        if bytes[0] & 0xfe == 0xfc { return true }  // fc00::/7 unique local (AWS's fd00:ec2::254 metadata too)
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return true }  // fe80::/10 link-local
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0xc0 { return true }  // fec0::/10 site-local
        if bytes[0] == 0xff { return true }  // multicast
        if bytes[0] == 0x3f && bytes[1] & 0xf0 == 0xf0 { return true }  // documentation 3fff::/20
        return bytes[0] & 0xe0 != 0x20  // global unicast is 2000::/3
    }
}
