//! Account tokens: the single-use secrets mailed to prove control of an
//! address (e-mail verification) or to regain an account (password reset),
//! and the port that stores them.
//!
//! Only a token's hash is stored. A token and the job that mails it are
//! always written in one transaction, so a mail never names a token the
//! database lacks, and a stored token always has its mail queued.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::jobs::NewJob;
use crate::users::Email;

/// What a token lets its holder do. A token of one purpose never serves
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    VerifyEmail,
    PasswordReset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    /// `None` for a name no version of Strata wrote.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "verify_email" => Some(Self::VerifyEmail),
            "password_reset" => Some(Self::PasswordReset),
            _ => None,
        }
    }
}

/// A token to store, without its account: the account is the one being
/// created or changed, or the one the address belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenDraft {
    pub id: Uuid,
    pub purpose: TokenPurpose,
    /// SHA-256 of the secret, hex; the secret itself is only in the mail.
    pub token_hash: String,
    /// The address the mail goes to.
    pub email: Email,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A token together with the `send_email` job that delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct MailedToken {
    pub token: TokenDraft,
    pub mail: NewJob,
}

/// A token as it was when it was consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: TokenPurpose,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl AccountToken {
    /// Whether the token can no longer be used at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// Storage of account tokens. Writing a token removes every older token of
/// the same account and purpose, so only the newest mail works.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountTokenRepository: Send + Sync {
    /// Stores `token` for account `user_id` and queues its mail, in one
    /// transaction.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the account no longer exists (nothing is
    /// written then); storage failures.
    async fn issue(&self, user_id: Uuid, token: MailedToken) -> Result<(), RepoError>;

    /// Stores `token` for the account whose address is `token.token.email`,
    /// and queues its mail, in one transaction. Returns whether such an
    /// account exists. Both outcomes run the same statements (an unknown
    /// address writes the mail too, and takes it back): the caller's answer
    /// must not reveal which one happened, by content or by time.
    ///
    /// # Errors
    /// Storage failures only.
    async fn issue_for_address(&self, token: MailedToken) -> Result<bool, RepoError>;

    /// Deletes the token of `purpose` whose hash is `token_hash` and
    /// returns it. Of several concurrent calls with one hash at most one gets
    /// `Some`: that is what makes tokens single use. Expired tokens are
    /// returned too; judging them is the caller's business.
    ///
    /// # Errors
    /// Storage failures only.
    async fn consume(
        &self,
        purpose: TokenPurpose,
        token_hash: &str,
    ) -> Result<Option<AccountToken>, RepoError>;

    /// Records that account `user_id` proved control of `email` at `now`.
    /// Returns `false`, changing nothing, when the account's address is no
    /// longer `email` (it changed after the mail was sent) or the account is
    /// gone.
    ///
    /// # Errors
    /// Storage failures only.
    async fn mark_email_verified(
        &self,
        user_id: Uuid,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Deletes tokens that expired before `now`; returns how many went.
    ///
    /// # Errors
    /// Storage failures only.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_through_their_names() {
        for purpose in [TokenPurpose::VerifyEmail, TokenPurpose::PasswordReset] {
            assert_eq!(TokenPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(TokenPurpose::parse("login"), None);
    }

    #[test]
    fn a_token_is_expired_from_its_expiry_instant_on() {
        let now = Utc::now();
        let token = AccountToken {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            purpose: TokenPurpose::PasswordReset,
            email: "ada@example.com".into(),
            created_at: now,
            expires_at: now,
        };
        assert!(token.is_expired(now));
        assert!(!token.is_expired(now - chrono::Duration::seconds(1)));
    }
}
