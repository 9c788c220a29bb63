//! The configuration of OpenID Connect sign-in: the providers (`google` is
//! a preset issuer) and the account-linking rule, checked at start-up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use strata_oidc::{HttpIdentityProvider, ProviderSettings};
use strata_service::{OidcProvider, OidcSettings};

use crate::config::empty_is_none;

/// Google's issuer, used for a provider named `google` without one.
const GOOGLE_ISSUER: &str = "https://accounts.google.com";

#[derive(Debug, Clone, Deserialize)]
pub struct OidcConfig {
    /// Link a provider identity to the account that has the same address
    /// when both the provider and the account verified it.
    pub link_verified_email: bool,
    /// Where browser flows land (`{frontend_redirect}#code=…`); unset: only
    /// `mode=api` flows.
    #[serde(deserialize_with = "empty_is_none")]
    pub frontend_redirect: Option<String>,
    pub pending_ttl_secs: u64,
    pub code_ttl_secs: u64,
    pub http_timeout_secs: u64,
    pub keys_min_refresh_secs: u64,
    /// Allowed clock skew on ID tokens' `exp` and `nbf`.
    pub leeway_secs: u64,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
}

#[derive(Clone, Deserialize)]
pub struct ProviderConfig {
    #[serde(default, deserialize_with = "empty_is_none")]
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    /// This server's callback: `{public API URL}/api/v1/auth/oidc/{name}/callback`.
    pub redirect_url: String,
    /// Space-separated; must include `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: String,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .finish()
    }
}

fn default_scopes() -> String {
    "openid email profile".into()
}

/// `http://` only for a provider on this machine (tests, development).
fn plain_http_allowed(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| {
            url.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        })
}

impl ProviderConfig {
    /// The issuer, with the preset for `google`.
    fn issuer(&self, name: &str) -> Option<String> {
        self.issuer
            .clone()
            .or_else(|| (name == "google").then(|| GOOGLE_ISSUER.to_owned()))
    }
}

impl OidcConfig {
    /// # Errors
    /// A provider without an issuer, client id or redirect URL, with a
    /// plain-HTTP issuer off loopback, without the `openid` scope, or with
    /// a name that is not a path segment; a `frontend_redirect` that is not
    /// an http(s) URL.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.frontend_redirect
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bail!("oidc.frontend_redirect must be an http(s) URL, not {url:?}");
        }
        for (name, provider) in &self.providers {
            let key = format!("oidc.providers.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("{key}: a provider name may hold only letters, digits, '-' and '_'");
            }
            let Some(issuer) = provider.issuer(name) else {
                bail!("{key}.issuer is required (only `google` has a preset)");
            };
            if !(issuer.starts_with("https://") || plain_http_allowed(&issuer)) {
                bail!("{key}.issuer must be an https:// URL (http:// only on loopback)");
            }
            if provider.client_id.trim().is_empty() || provider.redirect_url.trim().is_empty() {
                bail!("{key}.client_id and {key}.redirect_url are required");
            }
            if !provider.scopes.split_whitespace().any(|s| s == "openid") {
                bail!("{key}.scopes must include \"openid\"");
            }
        }
        Ok(())
    }

    /// The service's rules.
    pub fn settings(&self) -> OidcSettings {
        let secs = |value: u64| chrono::Duration::seconds(i64::try_from(value).unwrap_or(3600));
        OidcSettings {
            link_verified_email: self.link_verified_email,
            frontend_redirect: self.frontend_redirect.clone(),
            pending_ttl: secs(self.pending_ttl_secs),
            code_ttl: secs(self.code_ttl_secs),
            leeway_secs: self.leeway_secs,
        }
    }

    /// One adapter per configured provider, sharing one HTTP client.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn providers(&self) -> anyhow::Result<Vec<OidcProvider>> {
        if self.providers.is_empty() {
            return Ok(Vec::new());
        }
        let http = strata_oidc::http_client(Duration::from_secs(self.http_timeout_secs.max(1)))
            .context("Failed to build the OpenID Connect HTTP client")?;
        Ok(self
            .providers
            .iter()
            .filter_map(|(name, provider)| {
                let issuer = provider.issuer(name)?;
                let client = HttpIdentityProvider::new(
                    ProviderSettings {
                        issuer: issuer.clone(),
                        client_id: provider.client_id.clone(),
                        client_secret: provider.client_secret.clone(),
                        redirect_url: provider.redirect_url.clone(),
                        scopes: provider
                            .scopes
                            .split_whitespace()
                            .map(str::to_owned)
                            .collect(),
                        keys_min_refresh: Duration::from_secs(self.keys_min_refresh_secs),
                    },
                    http.clone(),
                );
                Some(OidcProvider {
                    name: name.clone(),
                    issuer,
                    client_id: provider.client_id.clone(),
                    client: Arc::new(client),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(issuer: Option<&str>) -> ProviderConfig {
        ProviderConfig {
            issuer: issuer.map(str::to_owned),
            client_id: "id".into(),
            client_secret: "secret".into(),
            redirect_url: "https://api.example.com/api/v1/auth/oidc/x/callback".into(),
            scopes: default_scopes(),
        }
    }

    fn config(name: &str, provider: ProviderConfig) -> OidcConfig {
        OidcConfig {
            link_verified_email: false,
            frontend_redirect: None,
            pending_ttl_secs: 600,
            code_ttl_secs: 60,
            http_timeout_secs: 10,
            keys_min_refresh_secs: 60,
            leeway_secs: 60,
            providers: BTreeMap::from([(name.to_owned(), provider)]),
        }
    }

    #[test]
    fn google_is_a_preset_and_others_need_an_issuer() {
        assert!(config("google", provider(None)).validate().is_ok());
        assert_eq!(
            provider(None).issuer("google").as_deref(),
            Some(GOOGLE_ISSUER)
        );
        assert!(config("corp", provider(None)).validate().is_err());
        assert!(
            config("corp", provider(Some("https://sso.example.com")))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn plain_http_issuers_are_refused_off_loopback() {
        assert!(
            config("dev", provider(Some("http://127.0.0.1:9400")))
                .validate()
                .is_ok()
        );
        for bad in ["http://sso.example.com", "http://127.0.0.1.evil.com"] {
            assert!(
                config("dev", provider(Some(bad))).validate().is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_openid_scope_is_required() {
        let mut without = provider(None);
        without.scopes = "email profile".into();
        assert!(config("google", without).validate().is_err());
    }
}
