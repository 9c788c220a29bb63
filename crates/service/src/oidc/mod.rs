//! Sign-in through OpenID Connect providers, and the identities they link
//! to accounts (ADR 0016).
//!
//! A login starts at [`OidcService::authorize`], which stores a pending
//! login (hashed `state`, `nonce`, PKCE verifier, the hash of a cookie that
//! binds it to the browser) and sends the browser to the provider. The
//! callback consumes that state once, trades the code for an ID token,
//! verifies it ([`id_token`]) and signs in the identity `(issuer, subject)`.
//! An address reported by the provider never selects an account on its own.

mod flow;
mod id_token;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use strata_domain::auth::{Principal, SessionRepository};
use strata_domain::oidc::{FlowMode, Identity, IdentityProvider, OidcRepository, Unlinked};
use strata_domain::users::{User, UserRepository};
use uuid::Uuid;

use crate::accounts::AccountMail;
use crate::auth::{AuthConfig, session_ttl, start_session};
use crate::error::{OidcRejection, TokenRejection};
use crate::tokens::hash_refresh_token;
use crate::{ServiceError, TokenCodec, TokenPair};

/// A configured provider: what the service checks tokens against, and the
/// adapter that talks to it.
#[derive(Clone)]
pub struct OidcProvider {
    /// The name in the routes (`/auth/oidc/{name}/…`).
    pub name: String,
    /// The issuer exactly as the provider's tokens carry it.
    pub issuer: String,
    pub client_id: String,
    pub client: Arc<dyn IdentityProvider>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The rules of OpenID Connect sign-in.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Link an unknown identity to the account with the same address when
    /// the provider asserts `email_verified` and the account verified its
    /// address too. Off: such a sign-in answers `OIDC_LINK_REQUIRED`.
    pub link_verified_email: bool,
    /// Where browser flows land, with `#code=…` (or `#linked=…`) appended.
    pub frontend_redirect: Option<String>,
    /// How long a started login may take (10 minutes).
    pub pending_ttl: Duration,
    /// How long a browser's one-time code lives.
    pub code_ttl: Duration,
    /// Clock skew allowed on the ID token's `exp` and `nbf`.
    pub leeway_secs: u64,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            link_verified_email: false,
            frontend_redirect: None,
            pending_ttl: Duration::minutes(10),
            code_ttl: Duration::seconds(60),
            leeway_secs: 60,
        }
    }
}

/// Where to send the browser, and the value of the cookie that binds the
/// login to it.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    pub url: String,
    pub binding: String,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What the provider's redirect brought back, and the binding cookie.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub state: String,
    pub code: Option<String>,
    /// The provider's `error` parameter (e.g. `access_denied`).
    pub error: Option<String>,
    pub binding: Option<String>,
}

/// How a callback ended.
#[derive(Debug, Clone)]
pub enum CallbackOutcome {
    /// An API flow signed in (`created`: the account is new).
    SignedIn {
        user: User,
        tokens: TokenPair,
        created: bool,
    },
    /// An API flow started by a signed-in account linked this identity.
    Linked(Identity),
    /// A browser flow: send the browser here (the front end, with a
    /// one-time code or the linking result in the fragment).
    Redirect(String),
}

/// OpenID Connect sign-in and identity management.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OidcService: Send + Sync {
    /// Starts a login (or, with `linking`, the linking of an identity to
    /// that account) at `provider`.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown provider;
    /// [`ServiceError::Validation`] for a browser flow without
    /// `oidc.frontend_redirect`; [`ServiceError::ProviderUnavailable`].
    async fn authorize(
        &self,
        provider: &str,
        mode: FlowMode,
        linking: Option<Principal>,
    ) -> Result<Authorization, ServiceError>;

    /// Completes a login started by [`authorize`](Self::authorize).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown provider;
    /// [`ServiceError::OidcState`] for a state that is unknown, used,
    /// expired, for another provider or not bound to this browser;
    /// [`ServiceError::OidcRejected`] when the provider's answer proves no
    /// identity; [`ServiceError::OidcLinkRequired`] when an account has the
    /// address and may not be linked automatically;
    /// [`ServiceError::IdentityTaken`] when linking an identity another
    /// account holds; [`ServiceError::ProviderUnavailable`].
    async fn callback(
        &self,
        provider: &str,
        callback: Callback,
    ) -> Result<CallbackOutcome, ServiceError>;

    /// Trades a browser flow's one-time code for a token pair.
    ///
    /// # Errors
    /// [`ServiceError::InvalidToken`] for a code that is unknown, used or
    /// expired.
    async fn exchange(&self, code: &str) -> Result<TokenPair, ServiceError>;

    /// The caller's identities, oldest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn identities(&self, caller: &Principal) -> Result<Vec<Identity>, ServiceError>;

    /// Unlinks one of the caller's identities.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the caller has no such identity;
    /// [`ServiceError::LastSignInMethod`] when the account would be left
    /// without a password and without an identity.
    async fn unlink(&self, caller: &Principal, identity_id: Uuid) -> Result<(), ServiceError>;

    /// The names of the configured providers.
    fn providers(&self) -> Vec<String>;
}

/// [`OidcService`] over the user, OIDC and session repositories.
pub struct OidcServiceImpl {
    providers: HashMap<String, OidcProvider>,
    users: Arc<dyn UserRepository>,
    store: Arc<dyn OidcRepository>,
    sessions: Arc<dyn SessionRepository>,
    tokens: Arc<TokenCodec>,
    session_ttl: Duration,
    settings: OidcSettings,
    /// Queues a verification mail with accounts whose address the provider
    /// did not vouch for.
    mail: Option<Arc<AccountMail>>,
}

impl std::fmt::Debug for OidcServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcServiceImpl")
            .field("providers", &self.providers.keys())
            .finish_non_exhaustive()
    }
}

impl OidcServiceImpl {
    pub fn new(
        providers: Vec<OidcProvider>,
        users: Arc<dyn UserRepository>,
        store: Arc<dyn OidcRepository>,
        sessions: Arc<dyn SessionRepository>,
        tokens: Arc<TokenCodec>,
        config: AuthConfig,
        settings: OidcSettings,
    ) -> Self {
        Self {
            providers: providers
                .into_iter()
                .map(|provider| (provider.name.clone(), provider))
                .collect(),
            users,
            store,
            sessions,
            tokens,
            session_ttl: session_ttl(config),
            settings,
            mail: None,
        }
    }

    /// Queues a verification mail with accounts created unverified.
    #[must_use]
    pub fn with_account_mail(mut self, mail: Arc<AccountMail>) -> Self {
        self.mail = Some(mail);
        self
    }

    fn provider(&self, name: &str) -> Result<&OidcProvider, ServiceError> {
        self.providers.get(name).ok_or(ServiceError::NotFound)
    }

    async fn sign_in(&self, user: &User) -> Result<TokenPair, ServiceError> {
        if !user.is_active {
            return Err(ServiceError::OidcRejected(OidcRejection::AccountDisabled));
        }
        start_session(self.sessions.as_ref(), &self.tokens, self.session_ttl, user).await
    }
}

#[async_trait]
impl OidcService for OidcServiceImpl {
    async fn authorize(
        &self,
        provider: &str,
        mode: FlowMode,
        linking: Option<Principal>,
    ) -> Result<Authorization, ServiceError> {
        let provider = self.provider(provider)?;
        flow::authorize(self, provider, mode, linking).await
    }

    async fn callback(
        &self,
        provider: &str,
        callback: Callback,
    ) -> Result<CallbackOutcome, ServiceError> {
        let provider = self.provider(provider)?;
        let outcome = flow::callback(self, provider, callback).await;
        let result = match &outcome {
            Ok(_) => "success",
            Err(ServiceError::OidcRejected(why)) => why.as_str(),
            Err(ServiceError::OidcState) => "state",
            Err(ServiceError::OidcLinkRequired) => "link_required",
            Err(_) => "error",
        };
        metrics::counter!("strata_oidc_callbacks_total", "result" => result).increment(1);
        outcome
    }

    async fn exchange(&self, code: &str) -> Result<TokenPair, ServiceError> {
        let code = self
            .store
            .take_code(&hash_refresh_token(code))
            .await?
            .ok_or(ServiceError::InvalidToken)?;
        if code.expires_at <= Utc::now() {
            return Err(ServiceError::InvalidToken);
        }
        let user = match self.users.find_by_id(code.user_id).await {
            Ok(user) => user,
            Err(strata_domain::RepoError::NotFound) => return Err(ServiceError::InvalidToken),
            Err(err) => return Err(err.into()),
        };
        self.sign_in(&user).await
    }

    async fn identities(&self, caller: &Principal) -> Result<Vec<Identity>, ServiceError> {
        Ok(self.store.identities(caller.user_id).await?)
    }

    async fn unlink(&self, caller: &Principal, identity_id: Uuid) -> Result<(), ServiceError> {
        match self.store.unlink(caller.user_id, identity_id).await? {
            Unlinked::Removed => Ok(()),
            Unlinked::NotFound => Err(ServiceError::NotFound),
            Unlinked::LastSignInMethod => Err(ServiceError::LastSignInMethod),
        }
    }

    fn providers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.providers.keys().cloned().collect();
        names.sort();
        names
    }
}

/// A signed-in caller whose account vanished mid-flow.
fn gone() -> ServiceError {
    ServiceError::Unauthenticated(TokenRejection::AccountDisabled)
}

#[cfg(test)]
mod tests;
