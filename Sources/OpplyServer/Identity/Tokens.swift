import Foundation
import JWTKit

/// The claims of our tokens. `typ` tells access from refresh tokens; a refresh token's `jti` is its row in
/// `refresh_tokens` and `fam` the family it rotates within.
struct TokenClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var typ: String
    var jti: String?
    var fam: String?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
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
            sub: subject, exp: .init(value: now + accessTTL.timeInterval), iat: .init(value: now),
            typ: "access", jti: UUID().uuidString.lowercased(), fam: nil
        )
        let refresh = TokenClaims(
            sub: subject, exp: .init(value: now + refreshTTL.timeInterval), iat: .init(value: now),
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
        guard token.utf8.count <= 4096, let claims = try? await keys.verify(token, as: TokenClaims.self),
            claims.customerID != nil, type == nil || claims.typ == type
        else {
            throw AppError.unauthorized("Token is invalid or expired.")
        }
        return claims
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
