//! Sessions, refresh tokens and revocations: the state behind authentication.
//!
//! A *session* is one login on one device. It owns a chain of refresh tokens,
//! of which only the newest is unconsumed; every access token names its
//! session (`sid`). Revoking a session writes a *revocation* that outlives the
//! session row for as long as an access token of that session could still be
//! valid, so revocations can be loaded into memory at start-up and checked
//! without a database round trip per request.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::users::Role;

/// The authenticated caller, as established from a verified access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A refresh token to store: only its hash is ever persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub id: Uuid,
    pub session_id: Uuid,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A new session with its first refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the store knows about a presented refresh token and its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub session_expires_at: DateTime<Utc>,
    pub session_revoked_at: Option<DateTime<Utc>>,
}

/// Which sessions a revocation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationScope {
    /// One session (logout, refresh-token reuse).
    Session(Uuid),
    /// Every live session of a user, optionally sparing one (password change
    /// keeps the session it was made from).
    User { user_id: Uuid, except: Option<Uuid> },
}

/// A revoked session, remembered until `expires_at`, after which no access
/// token of it can still be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: Uuid,
    pub revoked_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Storage of sessions, refresh tokens and revocations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a session and its first refresh token atomically.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the user no longer exists.
    async fn create(&self, session: NewSession, token: NewRefreshToken) -> Result<(), RepoError>;

    /// Finds a refresh token by the hash of its value. `Ok(None)` when no token
    /// has this hash (never issued, or its session was deleted).
    ///
    /// # Errors
    /// Only storage failures.
    async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, RepoError>;

    /// Consumes token `consumed_id` and stores `next` in one transaction.
    /// Returns `false`, storing nothing, when the token was already consumed:
    /// a concurrent refresh won the race, which callers must treat as reuse.
    ///
    /// # Errors
    /// Only storage failures.
    async fn rotate(
        &self,
        consumed_id: Uuid,
        now: DateTime<Utc>,
        next: NewRefreshToken,
    ) -> Result<bool, RepoError>;

    /// Marks the live sessions in `scope` as revoked at `now` and records a
    /// revocation for each, kept until `remember_until`. Returns the
    /// revocations written; sessions already revoked are left alone.
    ///
    /// # Errors
    /// Only storage failures.
    async fn revoke(
        &self,
        scope: RevocationScope,
        now: DateTime<Utc>,
        remember_until: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, RepoError>;

    /// Revocations still in force at `now` and recorded at or after `since`
    /// (use [`DateTime::<Utc>::MIN_UTC`] for all of them).
    ///
    /// # Errors
    /// Only storage failures.
    async fn revocations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, RepoError>;

    /// Deletes revocations, refresh tokens and sessions that expired before
    /// `now`; returns how many rows went.
    ///
    /// # Errors
    /// Only storage failures.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError>;
}
