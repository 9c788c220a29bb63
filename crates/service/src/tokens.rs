//! Access tokens (signed JWTs) and refresh tokens (opaque random strings).
//!
//! Access tokens are verified without I/O: signature, algorithm, issuer,
//! audience and expiry are all in the token. Refresh tokens carry no meaning;
//! the server stores only their SHA-256, so a leaked database cannot be
//! replayed against the API.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strata_domain::auth::Principal;
use strata_domain::users::Role;
use uuid::Uuid;

use crate::ServiceError;
use crate::error::TokenRejection;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    jti: Uuid,
    role: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// Issues and verifies HS256 access tokens.
pub struct TokenCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCodec")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl TokenCodec {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        // Expiry is enforced to the second: a leeway would let a logged-out
        // client's token live on past what `expires_in` promised.
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            header: Header::new(Algorithm::HS256),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Signs an access token for `principal`, valid from `now` for the TTL.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when signing fails.
    pub fn issue(&self, principal: &Principal, now: DateTime<Utc>) -> Result<String, ServiceError> {
        let iat = now.timestamp();
        let claims = Claims {
            sub: principal.user_id,
            sid: principal.session_id,
            jti: Uuid::now_v7(),
            role: principal.role.as_str().to_owned(),
            iat,
            exp: iat.saturating_add(i64::try_from(self.ttl_secs).unwrap_or(i64::MAX)),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(|e| ServiceError::internal("Failed to sign access token", e))
    }

    /// Verifies `token` and returns who it speaks for. Revocation is not
    /// checked here; see [`crate::RevocationList`].
    ///
    /// # Errors
    /// [`ServiceError::Unauthenticated`] with `Expired` or `Invalid`.
    pub fn verify(&self, token: &str) -> Result<Principal, ServiceError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// As [`Self::verify`], with the instant the token expires.
    ///
    /// # Errors
    /// As [`Self::verify`].
    pub fn verify_until(&self, token: &str) -> Result<(Principal, DateTime<Utc>), ServiceError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                ServiceError::Unauthenticated(match e.kind() {
                    ErrorKind::ExpiredSignature => TokenRejection::Expired,
                    _ => TokenRejection::Invalid,
                })
            })?;
        let role = Role::parse(&data.claims.role)
            .map_err(|_| ServiceError::Unauthenticated(TokenRejection::Invalid))?;
        let expires_at = DateTime::from_timestamp(data.claims.exp, 0)
            .ok_or(ServiceError::Unauthenticated(TokenRejection::Invalid))?;
        let principal = Principal {
            user_id: data.claims.sub,
            session_id: data.claims.sid,
            role,
        };
        Ok((principal, expires_at))
    }
}

/// A freshly generated refresh token: the value for the client and the hash
/// for the store.
#[derive(Clone)]
pub struct RefreshSecret {
    pub value: String,
    pub hash: String,
}

impl std::fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshSecret(<redacted>)")
    }
}

impl RefreshSecret {
    /// 256 bits from the OS-seeded CSPRNG, base64url-encoded.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        let value = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_refresh_token(&value);
        Self { value, hash }
    }
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The stored form of a refresh token. A fast hash is right here: the input
/// already has 256 bits of entropy, so there is nothing to brute-force.
pub fn hash_refresh_token(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// Lower-case hexadecimal, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        use std::fmt::Write as _;
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn codec() -> TokenCodec {
        TokenCodec::new(
            b"test-secret-that-is-long-enough-000",
            "strata",
            "strata-api",
            900,
        )
    }

    fn principal() -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            role: Role::Admin,
        }
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_principal() {
        let codec = codec();
        let p = principal();
        let token = codec.issue(&p, Utc::now()).unwrap();
        assert_eq!(codec.verify(&token).unwrap(), p);
    }

    #[test]
    fn an_expired_token_is_rejected_as_expired() {
        let codec = codec();
        let token = codec
            .issue(&principal(), Utc::now() - Duration::seconds(901))
            .unwrap();
        assert!(matches!(
            codec.verify(&token),
            Err(ServiceError::Unauthenticated(TokenRejection::Expired))
        ));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let other = TokenCodec::new(
            b"another-secret-that-is-long-enough",
            "strata",
            "strata-api",
            900,
        );
        let token = other.issue(&principal(), Utc::now()).unwrap();
        assert!(matches!(
            codec().verify(&token),
            Err(ServiceError::Unauthenticated(TokenRejection::Invalid))
        ));
    }

    #[test]
    fn a_token_for_another_issuer_or_audience_is_rejected() {
        let secret = b"test-secret-that-is-long-enough-000";
        for other in [
            TokenCodec::new(secret, "someone-else", "strata-api", 900),
            TokenCodec::new(secret, "strata", "another-api", 900),
        ] {
            let token = other.issue(&principal(), Utc::now()).unwrap();
            assert!(codec().verify(&token).is_err());
        }
    }

    #[test]
    fn a_token_with_another_algorithm_is_rejected() {
        let claims = serde_json::json!({
            "sub": Uuid::now_v7(), "sid": Uuid::now_v7(), "jti": Uuid::now_v7(), "role": "admin",
            "iat": Utc::now().timestamp(), "exp": Utc::now().timestamp() + 900,
            "iss": "strata", "aud": "strata-api",
        });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &claims,
            &EncodingKey::from_secret(b"test-secret-that-is-long-enough-000"),
        )
        .unwrap();
        assert!(codec().verify(&token).is_err());
        // An unsigned token ("alg": "none") must never pass either.
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert!(codec().verify(&unsigned).is_err());
    }

    #[test]
    fn garbage_is_an_invalid_token() {
        assert!(codec().verify("not.a.jwt").is_err());
        assert!(codec().verify("").is_err());
    }

    #[test]
    fn refresh_secrets_are_long_random_and_stored_only_as_their_hash() {
        let a = RefreshSecret::generate();
        let b = RefreshSecret::generate();
        assert_ne!(a.value, b.value);
        assert_eq!(a.value.len(), 43, "32 bytes base64url without padding");
        assert_eq!(a.hash, hash_refresh_token(&a.value));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.value));
    }
}
