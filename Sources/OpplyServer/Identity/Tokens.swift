import Foundation
import JWTKit

/// The claims of our tokens. `typ` tells access from refresh tokens; a refresh token's `jti` is its row in
/// `refresh_tokens`; `fam` is the family a refresh token rotates within, and an access token ends with it.
struct TokenClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var nbf: NotBeforeClaim?
    var typ: String
    var jti: String?
    var fam: String?

    /// Not expired, not before its `nbf`, and not issued in the future (a minute's clock skew allowed).
    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
        try nbf?.verifyNotBefore(currentDate: Date() + 60)
        guard iat.value <= Date() + 60 else { throw JWTError.claimVerificationFailure(failedClaim: iat, reason: "issued in the future") }
    }

    var customerID: UUID? { UUID(uuidString: sub.value) }
}

/// A signed pair as the token endpoints answer it.
struct TokenPair: Codable, Sendable {
    let access: String
    let refresh: String
    let tokenType: String
    let expiresIn: Int
}

/// Signs and checks HS256 tokens with the configured secret.
struct TokenSigner: Sendable {
    private let keys: JWTKeyCollection
    let accessTTL: Duration
    let refreshTTL: Duration

    init(secret: String, accessTTL: Duration, refreshTTL: Duration) async {
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.accessTTL = accessTTL
        self.refreshTTL = refreshTTL
    }

    func pair(customerID: UUID, refreshID: UUID, family: UUID, now: Date) async throws -> TokenPair {
        let subject = SubjectClaim(value: customerID.uuidString.lowercased())
        let access = TokenClaims(
            sub: subject, exp: .init(value: now + accessTTL.timeInterval), iat: .init(value: now), nbf: nil,
            typ: "access", jti: UUID().uuidString.lowercased(), fam: family.uuidString.lowercased()
        )
        let refresh = TokenClaims(
            sub: subject, exp: .init(value: now + refreshTTL.timeInterval), iat: .init(value: now), nbf: nil,
            typ: "refresh", jti: refreshID.uuidString.lowercased(), fam: family.uuidString.lowercased()
        )
        return TokenPair(
            access: try await keys.sign(access),
            refresh: try await keys.sign(refresh),
            tokenType: "Bearer",
            expiresIn: Int(accessTTL.timeInterval)
        )
    }

    /// The claims of a token we signed that has not expired; `401` for anything else.
    func verify(_ token: String, type: String? = nil) async throws -> TokenClaims {
        guard token.utf8.count <= 4096, Self.isHS256(token), let claims = try? await keys.verify(token, as: TokenClaims.self),
            claims.customerID != nil, type == nil || claims.typ == type
        else {
            throw AppError.unauthorized("Token is invalid or expired.")
        }
        return claims
    }
}

extension TokenSigner {
    /// Whether the token's header names HS256, the only algorithm we sign with: no other is even tried.
    static func isHS256(_ token: String) -> Bool {
        guard let header = token.split(separator: ".", maxSplits: 1).first, let data = CursorSigner.data(base64url: header),
            let fields = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return false }
        return fields["alg"] as? String == "HS256"
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
