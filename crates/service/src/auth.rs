//! Registration, login, token refresh with rotation and reuse detection,
//! logout and password change.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use strata_domain::ValidationErrors;
use strata_domain::auth::{
    NewRefreshToken, NewSession, Principal, RevocationScope, SessionRepository,
};
use strata_domain::users::{
    Email, FullName, Password, PasswordPolicy, Role, User, UserRepository, Username,
};
use uuid::Uuid;

use crate::accounts::AccountMail;
use crate::error::TokenRejection;
use crate::revocation::Revoker;
use crate::tokens::{RefreshSecret, TokenCodec, hash_refresh_token};
use crate::users::create_account;
use crate::{PasswordHasher, ServiceError};

/// A new account, already validated.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub username: Username,
    pub password: Password,
    pub full_name: Option<FullName>,
}

impl Registration {
    /// Parses every field and reports all violations together.
    ///
    /// # Errors
    /// [`ValidationErrors`] naming each field that breaks a rule.
    pub fn parse(
        email: &str,
        username: &str,
        password: &str,
        full_name: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        Self::parse_with(email, username, password, full_name, PasswordPolicy::STRATA)
    }

    /// As [`Self::parse`], with the password checked under `policy`.
    ///
    /// # Errors
    /// As [`Self::parse`].
    pub fn parse_with(
        email: &str,
        username: &str,
        password: &str,
        full_name: Option<&str>,
        policy: PasswordPolicy,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let email = errors.check("email", Email::parse(email));
        let username = errors.check("username", Username::parse(username));
        let password = errors.check("password", Password::parse_with(password, policy));
        // Outer `None`: the field failed to parse; inner: no name given.
        let full_name = match full_name {
            Some(raw) => errors.check("full_name", FullName::parse(raw)),
            None => Some(None),
        };
        match (email, username, password, full_name) {
            (Some(email), Some(username), Some(password), Some(full_name)) => Ok(Self {
                email,
                username,
                password,
                full_name,
            }),
            _ => Err(errors),
        }
    }
}

/// What a successful login or refresh hands the client.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Lifetimes of the two kinds of token.
#[derive(Debug, Clone, Copy)]
pub struct AuthConfig {
    pub access_ttl_secs: u64,
    /// How long a login lasts; refresh tokens rotate within it.
    pub refresh_ttl_secs: u64,
}

/// Authentication use cases.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuthService: Send + Sync {
    /// Creates an account with role `user` and logs it in.
    ///
    /// # Errors
    /// [`ServiceError::Taken`] when the e-mail or username is in use.
    async fn register(&self, registration: Registration)
    -> Result<(User, TokenPair), ServiceError>;

    /// Creates an account with the given role without logging it in (used by
    /// the `create-admin` command).
    ///
    /// # Errors
    /// [`ServiceError::Taken`] when the e-mail or username is in use.
    async fn create_account(
        &self,
        registration: Registration,
        role: Role,
    ) -> Result<User, ServiceError>;

    /// Starts a session for the account whose e-mail or username is `login`.
    ///
    /// # Errors
    /// [`ServiceError::InvalidCredentials`] for an unknown login, a wrong
    /// password or a deactivated account alike, after the same bcrypt work.
    async fn login(&self, login: &str, password: &str) -> Result<TokenPair, ServiceError>;

    /// Consumes `refresh_token` and returns a new pair for the same session.
    ///
    /// # Errors
    /// [`ServiceError::Unauthenticated`] for an unknown, expired or revoked
    /// token, or a disabled account. Presenting an already consumed token is
    /// reuse: the whole session is revoked and `Reused` returned.
    async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ServiceError>;

    /// Ends the caller's session: its access and refresh tokens stop working.
    ///
    /// # Errors
    /// Storage failures only.
    async fn logout(&self, principal: &Principal) -> Result<(), ServiceError>;

    /// Ends the session a refresh token belongs to (cookie-mode logout, where
    /// the browser holds no access token). An unknown or already revoked
    /// token changes nothing.
    ///
    /// # Errors
    /// [`ServiceError::Unauthenticated`] for a token that never existed.
    async fn logout_by_refresh_token(&self, refresh_token: &str) -> Result<(), ServiceError>;

    /// Ends every session of the caller.
    ///
    /// # Errors
    /// Storage failures only.
    async fn logout_all(&self, principal: &Principal) -> Result<(), ServiceError>;

    /// Changes the caller's password and revokes their other sessions.
    ///
    /// # Errors
    /// [`ServiceError::InvalidCredentials`] when `current` is wrong (nothing
    /// changes then).
    async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: Password,
    ) -> Result<(), ServiceError>;

    /// Sets the caller's password without asking for the current one, and
    /// revokes their other sessions. Only for adapters whose published
    /// contract has no current-password field (Conduit's `PUT /user`):
    /// Strata's own API uses [`Self::change_password`].
    ///
    /// # Errors
    /// [`ServiceError::Unauthenticated`] when the account is gone.
    async fn replace_password(
        &self,
        principal: &Principal,
        new: Password,
    ) -> Result<(), ServiceError>;

    /// Verifies an access token and checks its session is not revoked,
    /// without I/O.
    ///
    /// # Errors
    /// [`ServiceError::Unauthenticated`] with the reason.
    fn authenticate(&self, access_token: &str) -> Result<Principal, ServiceError>;

    /// As [`Self::authenticate`], with the instant the token expires (what
    /// a WebSocket opened with it must not outlive).
    ///
    /// # Errors
    /// As [`Self::authenticate`].
    fn authenticate_until(
        &self,
        access_token: &str,
    ) -> Result<(Principal, DateTime<Utc>), ServiceError>;
}

/// [`AuthService`] over the user and session repositories.
pub struct AuthServiceImpl {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    tokens: Arc<TokenCodec>,
    hasher: PasswordHasher,
    revoker: Revoker,
    session_ttl: chrono::Duration,
    /// Renders the verification mail of new accounts; without it none is queued.
    mail: Option<Arc<AccountMail>>,
}

impl std::fmt::Debug for AuthServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServiceImpl").finish_non_exhaustive()
    }
}

impl AuthServiceImpl {
    pub fn new(
        users: Arc<dyn UserRepository>,
        sessions: Arc<dyn SessionRepository>,
        tokens: Arc<TokenCodec>,
        hasher: PasswordHasher,
        revoker: Revoker,
        config: AuthConfig,
    ) -> Self {
        Self {
            users,
            sessions,
            tokens,
            hasher,
            revoker,
            session_ttl: session_ttl(config),
            mail: None,
        }
    }

    /// Queues a verification mail with every account this service creates.
    #[must_use]
    pub fn with_account_mail(mut self, mail: Arc<AccountMail>) -> Self {
        self.mail = Some(mail);
        self
    }

    async fn start_session(&self, user: &User) -> Result<TokenPair, ServiceError> {
        start_session(self.sessions.as_ref(), &self.tokens, self.session_ttl, user).await
    }

    async fn reject_reuse(&self, session_id: Uuid) -> ServiceError {
        metrics::counter!("strata_refresh_reuse_detected_total").increment(1);
        match self
            .revoker
            .revoke(RevocationScope::Session(session_id))
            .await
        {
            Ok(_) => tracing::warn!(%session_id, "refresh token reuse detected; session revoked"),
            // The client still gets its 401; the session stays revocable by logout.
            Err(err) => {
                tracing::error!(%session_id, error = %err, "failed to revoke session after refresh token reuse")
            }
        }
        ServiceError::Unauthenticated(TokenRejection::Reused)
    }
}

/// The lifetime of a login: how long its refresh tokens may rotate.
pub(crate) fn session_ttl(config: AuthConfig) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(config.refresh_ttl_secs).unwrap_or(i64::MAX / 1000))
}

/// Starts a session of `user` lasting `session_ttl` and issues its first
/// token pair; every way of signing in ends here.
///
/// # Errors
/// Storage failures; [`ServiceError::Internal`] when signing fails.
pub(crate) async fn start_session(
    sessions: &dyn SessionRepository,
    tokens: &TokenCodec,
    session_ttl: chrono::Duration,
    user: &User,
) -> Result<TokenPair, ServiceError> {
    let now = Utc::now();
    let session = NewSession {
        id: Uuid::now_v7(),
        user_id: user.id,
        created_at: now,
        expires_at: now + session_ttl,
    };
    let principal = Principal {
        user_id: user.id,
        session_id: session.id,
        role: user.role,
    };
    let secret = RefreshSecret::generate();
    let token = new_refresh_token(&secret, session.id, now, session.expires_at);
    sessions.create(session, token).await?;
    token_pair(tokens, &principal, secret, now)
}

fn token_pair(
    tokens: &TokenCodec,
    principal: &Principal,
    refresh: RefreshSecret,
    now: DateTime<Utc>,
) -> Result<TokenPair, ServiceError> {
    Ok(TokenPair {
        access_token: tokens.issue(principal, now)?,
        refresh_token: refresh.value,
        expires_in: tokens.ttl_secs(),
    })
}

fn new_refresh_token(
    secret: &RefreshSecret,
    session_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> NewRefreshToken {
    NewRefreshToken {
        id: Uuid::now_v7(),
        session_id,
        token_hash: secret.hash.clone(),
        created_at: now,
        expires_at,
    }
}

#[async_trait]
impl AuthService for AuthServiceImpl {
    async fn register(
        &self,
        registration: Registration,
    ) -> Result<(User, TokenPair), ServiceError> {
        let user = create_account(
            self.users.as_ref(),
            &self.hasher,
            self.mail.as_deref(),
            registration,
            Role::User,
            None,
        )
        .await?;
        let tokens = self.start_session(&user).await?;
        Ok((user, tokens))
    }

    async fn create_account(
        &self,
        registration: Registration,
        role: Role,
    ) -> Result<User, ServiceError> {
        create_account(
            self.users.as_ref(),
            &self.hasher,
            self.mail.as_deref(),
            registration,
            role,
            None,
        )
        .await
    }

    async fn login(&self, login: &str, password: &str) -> Result<TokenPair, ServiceError> {
        let Some(credentials) = self.users.find_credentials(login.trim()).await? else {
            self.hasher.verify_dummy(password).await?;
            metrics::counter!("strata_logins_total", "result" => "failure").increment(1);
            return Err(ServiceError::InvalidCredentials);
        };
        let matches = self
            .hasher
            .verify(password, &credentials.password_hash)
            .await?;
        if !matches || !credentials.user.is_active {
            metrics::counter!("strata_logins_total", "result" => "failure").increment(1);
            return Err(ServiceError::InvalidCredentials);
        }
        let tokens = self.start_session(&credentials.user).await?;
        metrics::counter!("strata_logins_total", "result" => "success").increment(1);
        Ok(tokens)
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ServiceError> {
        let now = Utc::now();
        let record = self
            .sessions
            .find_refresh_token(&hash_refresh_token(refresh_token))
            .await?
            .ok_or(ServiceError::Unauthenticated(TokenRejection::Invalid))?;
        if record.consumed_at.is_some() {
            return Err(self.reject_reuse(record.session_id).await);
        }
        if record.session_revoked_at.is_some() {
            return Err(ServiceError::Unauthenticated(TokenRejection::Revoked));
        }
        if record.expires_at <= now || record.session_expires_at <= now {
            return Err(ServiceError::Unauthenticated(TokenRejection::Expired));
        }
        let user = match self.users.find_by_id(record.user_id).await {
            Ok(user) if user.is_active => user,
            Ok(_) | Err(strata_domain::RepoError::NotFound) => {
                return Err(ServiceError::Unauthenticated(
                    TokenRejection::AccountDisabled,
                ));
            }
            Err(err) => return Err(err.into()),
        };
        let secret = RefreshSecret::generate();
        let next = new_refresh_token(&secret, record.session_id, now, record.session_expires_at);
        if !self.sessions.rotate(record.id, now, next).await? {
            // Another request consumed this token between our read and write:
            // two holders of one token is exactly what reuse detection is for.
            return Err(self.reject_reuse(record.session_id).await);
        }
        let principal = Principal {
            user_id: user.id,
            session_id: record.session_id,
            role: user.role,
        };
        token_pair(&self.tokens, &principal, secret, now)
    }

    async fn logout(&self, principal: &Principal) -> Result<(), ServiceError> {
        self.revoker
            .revoke(RevocationScope::Session(principal.session_id))
            .await
            .map(drop)
    }

    async fn logout_by_refresh_token(&self, refresh_token: &str) -> Result<(), ServiceError> {
        let record = self
            .sessions
            .find_refresh_token(&hash_refresh_token(refresh_token))
            .await?
            .ok_or(ServiceError::Unauthenticated(TokenRejection::Invalid))?;
        self.revoker
            .revoke(RevocationScope::Session(record.session_id))
            .await
            .map(drop)
    }

    async fn logout_all(&self, principal: &Principal) -> Result<(), ServiceError> {
        self.revoker
            .revoke(RevocationScope::User {
                user_id: principal.user_id,
                except: None,
            })
            .await
            .map(drop)
    }

    async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: Password,
    ) -> Result<(), ServiceError> {
        let credentials = match self.users.find_credentials_by_id(principal.user_id).await {
            Ok(credentials) => credentials,
            Err(strata_domain::RepoError::NotFound) => {
                return Err(ServiceError::Unauthenticated(
                    TokenRejection::AccountDisabled,
                ));
            }
            Err(err) => return Err(err.into()),
        };
        if !self
            .hasher
            .verify(current, &credentials.password_hash)
            .await?
        {
            return Err(ServiceError::InvalidCredentials);
        }
        self.replace_password(principal, new).await
    }

    async fn replace_password(
        &self,
        principal: &Principal,
        new: Password,
    ) -> Result<(), ServiceError> {
        let hash = self.hasher.hash(&new).await?;
        match self
            .users
            .set_password(principal.user_id, hash, Utc::now())
            .await
        {
            Ok(()) => {}
            Err(strata_domain::RepoError::NotFound) => {
                return Err(ServiceError::Unauthenticated(
                    TokenRejection::AccountDisabled,
                ));
            }
            Err(err) => return Err(err.into()),
        }
        self.revoker
            .revoke(RevocationScope::User {
                user_id: principal.user_id,
                except: Some(principal.session_id),
            })
            .await
            .map(drop)
    }

    fn authenticate(&self, access_token: &str) -> Result<Principal, ServiceError> {
        self.authenticate_until(access_token)
            .map(|(principal, _)| principal)
    }

    fn authenticate_until(
        &self,
        access_token: &str,
    ) -> Result<(Principal, DateTime<Utc>), ServiceError> {
        let (principal, expires_at) = self.tokens.verify_until(access_token)?;
        if self
            .revoker
            .list()
            .is_revoked(principal.session_id, Utc::now())
        {
            return Err(ServiceError::Unauthenticated(TokenRejection::Revoked));
        }
        Ok((principal, expires_at))
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
