//! A JWK Set (RFC 7517) as providers publish it, reduced to the signing
//! keys the domain knows how to use.

use serde::Deserialize;
use strata_domain::oidc::{KeyMaterial, VerificationKey};

#[derive(Debug, Deserialize)]
pub(crate) struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

impl KeySet {
    /// The keys meant for signatures whose type is known; encryption keys
    /// and unknown types are left out rather than failing the whole set.
    pub(crate) fn verification_keys(self) -> Vec<VerificationKey> {
        self.keys
            .into_iter()
            .filter(|jwk| jwk.usage.as_deref().is_none_or(|usage| usage == "sig"))
            .filter_map(|jwk| {
                let material = match (jwk.kty.as_str(), jwk.crv, jwk.n, jwk.e, jwk.x, jwk.y) {
                    ("RSA", _, Some(n), Some(e), _, _) => KeyMaterial::Rsa { n, e },
                    ("EC", Some(curve), _, _, Some(x), Some(y)) => KeyMaterial::Ec { curve, x, y },
                    ("OKP", Some(curve), _, _, Some(x), _) => KeyMaterial::Okp { curve, x },
                    _ => return None,
                };
                Some(VerificationKey {
                    kid: jwk.kid,
                    alg: jwk.alg,
                    material,
                })
            })
            .collect()
    }
}
