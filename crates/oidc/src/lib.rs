//! The OpenID Connect adapter: [`HttpIdentityProvider`] implements the
//! domain's [`IdentityProvider`] port over the workspace's reqwest.
//!
//! Discovery (`/.well-known/openid-configuration`) is fetched on first use
//! and kept; the issuer it names must be exactly the configured one. The
//! JWKS is cached and fetched again when a token names a key it lacks, at
//! most once per [`ProviderSettings::keys_min_refresh`]. No request follows
//! a redirect (a token endpoint that redirects is an error, never a hop to
//! wherever it points), and every answer is read up to a size bound.

mod jwks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use strata_domain::oidc::{IdentityProvider, ProviderError, VerificationKey};
use tokio::sync::Mutex;

/// Answers larger than this are refused (discovery documents and JWKS are
/// a few KiB).
const MAX_BODY: usize = 256 * 1024;

/// One provider's client registration.
#[derive(Clone)]
pub struct ProviderSettings {
    /// The issuer URL, exactly as the provider's tokens carry it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This server's callback URL, registered at the provider.
    pub redirect_url: String,
    pub scopes: Vec<String>,
    /// The shortest time between two JWKS fetches for unknown keys.
    pub keys_min_refresh: Duration,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to set up TLS for the OpenID client")]
    Tls(#[source] rustls::Error),
    #[error("failed to build the OpenID HTTP client")]
    Build(#[source] reqwest::Error),
}

/// Makes ring the process's rustls crypto provider, if none is yet.
///
/// This crate turns on reqwest's `rustls-no-provider` feature (TLS without
/// aws-lc). Cargo unifies features across a build, so from then on *every*
/// reqwest client in the process (the OTLP exporter's, the tests') panics
/// when built before a process-wide provider exists. The binary calls this
/// first thing; so does [`http_client`]. Calling it again does nothing.
pub fn install_crypto_provider() {
    // `Err` only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client every provider shares: rustls on ring with the webpki
/// roots, no redirects, bounded time.
///
/// # Errors
/// [`ClientError`] when TLS or the client cannot be set up.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(ClientError::Tls)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(ClientError::Build)
}

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Default)]
struct KeyCache {
    keys: Vec<VerificationKey>,
    fetched: Option<Instant>,
}

/// [`IdentityProvider`] over HTTP.
#[derive(Debug)]
pub struct HttpIdentityProvider {
    settings: ProviderSettings,
    http: reqwest::Client,
    metadata: Mutex<Option<Metadata>>,
    keys: Mutex<KeyCache>,
}

impl HttpIdentityProvider {
    pub fn new(settings: ProviderSettings, http: reqwest::Client) -> Self {
        Self {
            settings,
            http,
            metadata: Mutex::new(None),
            keys: Mutex::new(KeyCache::default()),
        }
    }

    /// The discovery document, fetched once and kept.
    async fn metadata(&self) -> Result<Metadata, ProviderError> {
        let mut cached = self.metadata.lock().await;
        if let Some(metadata) = cached.as_ref() {
            return Ok(metadata.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self.get_json(&url, "Failed to fetch discovery").await?;
        // OpenID Connect Discovery 1.0, section 4.3: a document for another
        // issuer must not be used.
        if metadata.issuer != self.settings.issuer {
            return Err(ProviderError::unavailable(
                "Discovery names another issuer",
                format!(
                    "configured {:?}, discovered {:?}",
                    self.settings.issuer, metadata.issuer
                ),
            ));
        }
        *cached = Some(metadata.clone());
        Ok(metadata)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        context: &'static str,
    ) -> Result<T, ProviderError> {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| ProviderError::unavailable(context, err))?;
        let status = response.status();
        let body = read_limited(response, context).await?;
        if !status.is_success() {
            return Err(ProviderError::unavailable(
                context,
                format!("answered {status}"),
            ));
        }
        serde_json::from_slice(&body).map_err(|err| ProviderError::unavailable(context, err))
    }
}

/// The body of `response`, refused beyond [`MAX_BODY`] bytes.
async fn read_limited(
    mut response: reqwest::Response,
    context: &'static str,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| ProviderError::unavailable(context, err))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ProviderError::unavailable(context, "answer too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What the token endpoint answers (RFC 6749 section 5).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `client_secret_basic` (RFC 6749 section 2.3.1): both parts
/// form-urlencoded before they are joined and encoded.
fn basic_auth(client_id: &str, secret: &str) -> String {
    let encode = |value: &str| {
        serde_urlencoded::to_string([("", value)])
            .map(|pair| pair.trim_start_matches('=').to_owned())
            .unwrap_or_default()
    };
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret)))
    )
}

#[async_trait]
impl IdentityProvider for HttpIdentityProvider {
    async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<String, ProviderError> {
        let endpoint = self.metadata().await?.authorization_endpoint;
        let scope = self.settings.scopes.join(" ");
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.settings.client_id.as_str()),
            ("redirect_uri", self.settings.redirect_url.as_str()),
            ("scope", scope.as_str()),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|err| ProviderError::unavailable("Failed to build the authorization URL", err))?;
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Ok(format!("{endpoint}{separator}{query}"))
    }

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<String, ProviderError> {
        const CONTEXT: &str = "Failed to exchange the authorization code";
        let endpoint = self.metadata().await?.token_endpoint;
        let response = self
            .http
            .post(&endpoint)
            .header(
                reqwest::header::AUTHORIZATION,
                basic_auth(&self.settings.client_id, &self.settings.client_secret),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.settings.redirect_url.as_str()),
                ("code_verifier", pkce_verifier),
            ])
            .send()
            .await
            .map_err(|err| ProviderError::unavailable(CONTEXT, err))?;
        let status = response.status();
        let body = read_limited(response, CONTEXT).await?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
        if status.is_client_error() {
            let error = answer
                .and_then(|answer| answer.error)
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(ProviderError::Refused(error));
        }
        if !status.is_success() {
            return Err(ProviderError::unavailable(
                CONTEXT,
                format!("the token endpoint answered {status}"),
            ));
        }
        answer
            .and_then(|answer| answer.id_token)
            .ok_or_else(|| ProviderError::unavailable(CONTEXT, "the answer has no id_token"))
    }

    async fn signing_keys(&self, refresh: bool) -> Result<Vec<VerificationKey>, ProviderError> {
        let mut cache = self.keys.lock().await;
        let recent = cache
            .fetched
            .is_some_and(|at| at.elapsed() < self.settings.keys_min_refresh);
        let fresh_enough = cache.fetched.is_some() && (!refresh || recent);
        if fresh_enough {
            return Ok(cache.keys.clone());
        }
        let uri = self.metadata().await?.jwks_uri;
        let set: jwks::KeySet = self.get_json(&uri, "Failed to fetch the JWKS").await?;
        cache.keys = set.verification_keys();
        cache.fetched = Some(Instant::now());
        tracing::info!(
            issuer = %self.settings.issuer,
            keys = cache.keys.len(),
            "fetched the provider's signing keys"
        );
        Ok(cache.keys.clone())
    }
}

#[cfg(test)]
mod tests;
