//! Verification of a provider's ID token: the signature with a key from the
//! provider's JWKS (refetched once for an unknown `kid`), an allowed
//! asymmetric algorithm only, `iss`, `aud` (and `azp`), `exp`/`nbf`, and the
//! login's `nonce`.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use strata_domain::oidc::{IdentityProvider, KeyMaterial, VerificationKey};

use crate::ServiceError;
use crate::error::OidcRejection;
use crate::tokens::constant_time_eq;

/// Only asymmetric signatures: `none` does not even parse as an
/// [`Algorithm`], and HS* would let anyone who knows the client secret (the
/// secret is shared with the provider, not with us alone) mint tokens.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What a verified ID token says about its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedClaims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// What the token must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Allowed clock skew for `exp` and `nbf`.
    pub leeway_secs: u64,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Flag>,
    #[serde(default)]
    name: Option<String>,
}

/// Only its shape matters here (jsonwebtoken checks that we are in it).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(#[allow(dead_code)] String),
    Many(Vec<String>),
}

/// Some providers send `email_verified` as the string `"true"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn is_true(&self) -> bool {
        match self {
            Self::Bool(value) => *value,
            Self::Text(text) => text == "true",
        }
    }
}

fn rejected(why: OidcRejection) -> ServiceError {
    ServiceError::OidcRejected(why)
}

fn provider_down(err: strata_domain::oidc::ProviderError) -> ServiceError {
    ServiceError::ProviderUnavailable(Box::new(err))
}

/// Verifies `raw` as an ID token of `provider` for `expected`.
///
/// # Errors
/// [`ServiceError::OidcRejected`] with the reason;
/// [`ServiceError::ProviderUnavailable`] when the keys cannot be fetched.
pub(crate) async fn verify(
    provider: &dyn IdentityProvider,
    raw: &str,
    expected: Expected<'_>,
) -> Result<VerifiedClaims, ServiceError> {
    let header =
        jsonwebtoken::decode_header(raw).map_err(|_| rejected(OidcRejection::Algorithm))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(rejected(OidcRejection::Algorithm));
    }
    let kid = header.kid.as_deref();
    let keys = provider.signing_keys(false).await.map_err(provider_down)?;
    let key = match select(&keys, kid, header.alg) {
        Some(key) => key.clone(),
        // An unknown key: the provider may have rotated. Ask once more; the
        // adapter bounds how often that really refetches.
        None => {
            let keys = provider.signing_keys(true).await.map_err(provider_down)?;
            select(&keys, kid, header.alg)
                .cloned()
                .ok_or(rejected(OidcRejection::UnknownKey))?
        }
    };
    let decoding = decoding_key(&key).ok_or(rejected(OidcRejection::UnknownKey))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = expected.leeway_secs;
    let claims = jsonwebtoken::decode::<Claims>(raw, &decoding, &validation)
        .map_err(|err| {
            rejected(match err.kind() {
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                    OidcRejection::Expired
                }
                _ => OidcRejection::Invalid,
            })
        })?
        .claims;
    // With several audiences, the token must say it was issued to us.
    let several = matches!(&claims.aud, Audience::Many(list) if list.len() > 1);
    if (several || claims.azp.is_some()) && claims.azp.as_deref() != Some(expected.client_id) {
        return Err(rejected(OidcRejection::Invalid));
    }
    let nonce_matches = claims
        .nonce
        .as_deref()
        .is_some_and(|nonce| constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()));
    if !nonce_matches {
        return Err(rejected(OidcRejection::Nonce));
    }
    if claims.sub.is_empty() {
        return Err(rejected(OidcRejection::Invalid));
    }
    Ok(VerifiedClaims {
        subject: claims.sub,
        email: claims.email,
        email_verified: claims.email_verified.as_ref().is_some_and(Flag::is_true),
        name: claims.name,
    })
}

/// The key that may have signed a token with `kid` and `alg`: the one with
/// that `kid`, or, for a token without one, the only key fit for `alg`.
fn select<'k>(
    keys: &'k [VerificationKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<&'k VerificationKey> {
    let mut fit = keys.iter().filter(|key| fits(key, alg));
    match kid {
        Some(kid) => fit.find(|key| key.kid.as_deref() == Some(kid)),
        None => {
            let first = fit.next();
            if fit.next().is_some() { None } else { first }
        }
    }
}

/// Whether `key` may verify `alg`: its type matches the algorithm's family,
/// and its own `alg`, when published, is that algorithm.
fn fits(key: &VerificationKey, alg: Algorithm) -> bool {
    let family = match &key.material {
        KeyMaterial::Rsa { .. } => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        KeyMaterial::Ec { curve, .. } => matches!(
            (curve.as_str(), alg),
            ("P-256", Algorithm::ES256) | ("P-384", Algorithm::ES384)
        ),
        KeyMaterial::Okp { curve, .. } => curve == "Ed25519" && alg == Algorithm::EdDSA,
    };
    let named = key
        .alg
        .as_deref()
        .is_none_or(|named| named.parse::<Algorithm>().is_ok_and(|named| named == alg));
    family && named
}

fn decoding_key(key: &VerificationKey) -> Option<DecodingKey> {
    match &key.material {
        KeyMaterial::Rsa { n, e } => DecodingKey::from_rsa_components(n, e).ok(),
        KeyMaterial::Ec { x, y, .. } => DecodingKey::from_ec_components(x, y).ok(),
        KeyMaterial::Okp { x, .. } => DecodingKey::from_ed_components(x).ok(),
    }
}
