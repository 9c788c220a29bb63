//! OpenID Connect sign-in: identities at external providers linked to
//! accounts, the pending logins that carry `state`, `nonce` and the PKCE
//! verifier across the provider's redirect, the one-time codes a browser
//! trades for tokens, and the two ports behind them: storage
//! ([`OidcRepository`]) and the provider itself ([`IdentityProvider`]).
//!
//! An identity is keyed by `(issuer, subject)`, never by e-mail: an address
//! a provider reports is a hint, not a name (ADR 0016).

use std::error::Error as StdError;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::users::{NewUser, User};

/// How many identities one account may hold; linking more is refused.
pub const MAX_IDENTITIES: usize = 20;

/// How the tokens of a completed sign-in reach the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlowMode {
    /// The callback answers JSON (a client that reads the callback itself).
    #[default]
    Api,
    /// The callback redirects to the configured front end with a one-time
    /// code in the URL fragment, traded at `POST /auth/oidc/exchange`.
    Browser,
}

impl FlowMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Browser => "browser",
        }
    }

    /// `None` for a name no version of Strata wrote.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "api" => Some(Self::Api),
            "browser" => Some(Self::Browser),
            _ => None,
        }
    }
}

/// A login started at the authorize endpoint and not yet completed: what the
/// callback must find again. Single use, short-lived; only hashes of the
/// `state` and of the browser-binding cookie are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub id: Uuid,
    /// SHA-256 of the `state` sent to the provider, hex.
    pub state_hash: String,
    /// SHA-256 of the value of the cookie set on the browser that started
    /// the flow, hex: the callback must come from that browser.
    pub binding_hash: String,
    /// The configured provider's name (`google`).
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub mode: FlowMode,
    /// Set when a signed-in account started the flow to link an identity.
    pub link_user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("id", &self.id)
            .field("provider", &self.provider)
            .field("mode", &self.mode)
            .field("link_user_id", &self.link_user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// An identity at a provider, as linked to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The configured provider's name at the time of linking.
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    /// The address the provider reported when the identity was linked.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An identity to link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdentity {
    pub id: Uuid,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl NewIdentity {
    /// The stored identity once linked to `user_id`.
    pub fn linked_to(self, user_id: Uuid) -> Identity {
        Identity {
            id: self.id,
            user_id,
            provider: self.provider,
            issuer: self.issuer,
            subject: self.subject,
            email: self.email,
            created_at: self.created_at,
        }
    }
}

/// A one-time code that a browser trades for a token pair of `user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCode {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What became of an unlink request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    Removed,
    /// The account has no such identity.
    NotFound,
    /// The identity is the account's last way to sign in (no password and
    /// no other identity): nothing was removed.
    LastSignInMethod,
}

/// Whether an account keeps a way to sign in after losing one identity.
pub fn may_unlink(has_password: bool, other_identities: u64) -> bool {
    has_password || other_identities > 0
}

/// Storage of pending logins, identities and one-time login codes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OidcRepository: Send + Sync {
    /// Stores a pending login.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when `link_user_id` names no account; storage
    /// failures.
    async fn save_pending(&self, pending: PendingLogin) -> Result<(), RepoError>;

    /// Deletes the pending login whose state hashes to `state_hash` and
    /// returns it. Of concurrent calls with one hash at most one gets
    /// `Some`: that is what makes a state single use. Expired ones are
    /// returned too; judging them is the caller's business.
    ///
    /// # Errors
    /// Storage failures only.
    async fn take_pending(&self, state_hash: &str) -> Result<Option<PendingLogin>, RepoError>;

    /// The identity `(issuer, subject)`, if linked to an account.
    ///
    /// # Errors
    /// Storage failures only.
    async fn find_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Identity>, RepoError>;

    /// Inserts an account and links `identity` to it, in one transaction.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] with [`crate::UniqueField::Email`] or
    /// [`crate::UniqueField::Username`] when the account's address or name
    /// is taken, and with [`crate::UniqueField::Other`] when the identity is
    /// already linked (nothing is written then).
    async fn create_account(&self, user: NewUser, identity: NewIdentity)
    -> Result<User, RepoError>;

    /// Links `identity` to account `user_id`.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] with [`crate::UniqueField::Other`] when the
    /// identity is linked to any account already; [`RepoError::NotFound`]
    /// when the account is gone.
    async fn link(&self, user_id: Uuid, identity: NewIdentity) -> Result<Identity, RepoError>;

    /// The identities of account `user_id`, oldest first (at most
    /// [`MAX_IDENTITIES`] exist per account).
    ///
    /// # Errors
    /// Storage failures only.
    async fn identities(&self, user_id: Uuid) -> Result<Vec<Identity>, RepoError>;

    /// Removes identity `identity_id` from account `user_id` unless that
    /// leaves the account no way to sign in ([`may_unlink`]); the check and
    /// the removal are atomic, so two concurrent unlinks cannot both pass.
    ///
    /// # Errors
    /// Storage failures only.
    async fn unlink(&self, user_id: Uuid, identity_id: Uuid) -> Result<Unlinked, RepoError>;

    /// Stores a one-time login code.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the account is gone; storage failures.
    async fn save_code(&self, code: LoginCode) -> Result<(), RepoError>;

    /// Deletes the login code hashing to `code_hash` and returns it; of
    /// concurrent calls at most one gets `Some`. Expired codes are returned
    /// too.
    ///
    /// # Errors
    /// Storage failures only.
    async fn take_code(&self, code_hash: &str) -> Result<Option<LoginCode>, RepoError>;

    /// Deletes pending logins and login codes that expired before `now`;
    /// returns how many rows went.
    ///
    /// # Errors
    /// Storage failures only.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError>;
}

/// A public key from a provider's JWKS, as the provider published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    pub kid: Option<String>,
    /// The `alg` the key is restricted to, when the provider says.
    pub alg: Option<String>,
    pub material: KeyMaterial,
}

/// A key's public parameters, base64url as in the JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    Rsa { n: String, e: String },
    Ec { curve: String, x: String, y: String },
    Okp { curve: String, x: String },
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached, answered 5xx, or answered with a
    /// document that is not what the protocol says.
    #[error("the identity provider is unavailable: {context}")]
    Unavailable {
        context: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The provider refused the request (e.g. `invalid_grant` for a code
    /// that was already used); the OAuth error code is kept.
    #[error("the identity provider refused the request: {0}")]
    Refused(String),
}

impl ProviderError {
    pub fn unavailable(
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            context,
            source: source.into(),
        }
    }
}

/// One configured OpenID provider: discovery, the authorization URL, the
/// token endpoint and its signing keys. Adapters cache discovery and keys.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The URL to send the browser to: the provider's authorization
    /// endpoint with `response_type=code`, the client id, redirect URI and
    /// scopes, `state`, `nonce`, and the S256 PKCE `code_challenge`.
    ///
    /// # Errors
    /// [`ProviderError::Unavailable`] when discovery fails.
    async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<String, ProviderError>;

    /// Trades an authorization code (with its PKCE verifier) for the raw ID
    /// token, unverified.
    ///
    /// # Errors
    /// [`ProviderError::Refused`] when the token endpoint refuses the code;
    /// [`ProviderError::Unavailable`] otherwise, including an answer without
    /// an ID token.
    async fn exchange_code(&self, code: &str, pkce_verifier: &str)
    -> Result<String, ProviderError>;

    /// The provider's signing keys. With `refresh`, the adapter fetches them
    /// again (for a `kid` it does not know: the provider rotated), unless it
    /// did so very recently: refetching is bounded.
    ///
    /// # Errors
    /// [`ProviderError::Unavailable`].
    async fn signing_keys(&self, refresh: bool) -> Result<Vec<VerificationKey>, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_names() {
        for mode in [FlowMode::Api, FlowMode::Browser] {
            assert_eq!(FlowMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(FlowMode::parse("cli"), None);
    }

    #[test]
    fn an_account_keeps_a_way_in_through_a_password_or_another_identity() {
        assert!(may_unlink(true, 0));
        assert!(may_unlink(false, 1));
        assert!(!may_unlink(false, 0));
    }

    #[test]
    fn a_pending_login_never_prints_its_secrets() {
        let now = Utc::now();
        let pending = PendingLogin {
            id: Uuid::nil(),
            state_hash: "statehash".into(),
            binding_hash: "bindinghash".into(),
            provider: "google".into(),
            nonce: "the-nonce".into(),
            pkce_verifier: "the-verifier".into(),
            mode: FlowMode::Api,
            link_user_id: None,
            created_at: now,
            expires_at: now,
        };
        let printed = format!("{pending:?}");
        assert!(!printed.contains("the-nonce") && !printed.contains("the-verifier"));
        assert!(pending.is_expired(now));
    }
}
