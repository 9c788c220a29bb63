//! The account lifecycle around a mailbox: proving an address (e-mail
//! verification) and regaining an account through it (password reset).
//!
//! Tokens are 256-bit secrets that exist in clear only in the mail; the
//! store keeps their SHA-256. A token is consumed by deleting it, so two
//! uses cannot both succeed, and a newer token of the same purpose replaces
//! the older ones (see [`AccountTokenRepository`]).

mod messages;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::RepoError;
use strata_domain::accounts::{AccountToken, AccountTokenRepository, TokenPurpose};
use strata_domain::auth::{Principal, RevocationScope};
use strata_domain::users::{Email, Password, User, UserRepository};
use uuid::Uuid;

pub use messages::{AccountMail, AccountSettings};

use crate::error::TokenRejection;
use crate::revocation::Revoker;
use crate::tokens::hash_refresh_token;
use crate::{PasswordHasher, ServiceError};

/// Called with an account id whenever this service changed the account, so
/// that caches of it (the `me` cache) drop their copy.
pub type ForgetUser = Arc<dyn Fn(Uuid) + Send + Sync>;

/// E-mail verification and password reset.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountService: Send + Sync {
    /// Marks the address a verification token was mailed to as verified.
    ///
    /// # Errors
    /// [`ServiceError::InvalidToken`] for a token that is unknown, used,
    /// superseded, expired, or mailed to an address the account no longer
    /// has.
    async fn verify_email(&self, token: &str) -> Result<(), ServiceError>;

    /// Mails the caller a new verification token; older ones stop working.
    ///
    /// # Errors
    /// [`ServiceError::Conflict`] when the address is already verified;
    /// [`ServiceError::Unauthenticated`] when the account is gone.
    async fn resend_verification(&self, caller: &Principal) -> Result<(), ServiceError>;

    /// Mails a reset token to `email` if an account has that address. The
    /// outcome is the same, and takes the same work, whether or not one
    /// does: the caller must not learn which.
    ///
    /// # Errors
    /// Storage failures only.
    async fn request_password_reset(&self, email: &Email) -> Result<(), ServiceError>;

    /// Sets the password of the account a reset token was mailed for, and
    /// revokes every session of it.
    ///
    /// # Errors
    /// [`ServiceError::InvalidToken`] for a token that is unknown, used,
    /// superseded or expired (nothing changes then).
    async fn reset_password(&self, token: &str, new: Password) -> Result<(), ServiceError>;

    /// Whether the caller may write content: always, unless
    /// `auth.require_verified_email` is on and their address is unverified.
    ///
    /// # Errors
    /// [`ServiceError::EmailNotVerified`];
    /// [`ServiceError::Unauthenticated`] when the account is gone.
    async fn ensure_may_write(&self, caller: &Principal) -> Result<(), ServiceError>;
}

/// [`AccountService`] over the user and account-token repositories.
pub struct AccountServiceImpl {
    users: Arc<dyn UserRepository>,
    tokens: Arc<dyn AccountTokenRepository>,
    mail: Arc<AccountMail>,
    hasher: PasswordHasher,
    revoker: Revoker,
    forget: Option<ForgetUser>,
}

impl std::fmt::Debug for AccountServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountServiceImpl").finish_non_exhaustive()
    }
}

impl AccountServiceImpl {
    pub fn new(
        users: Arc<dyn UserRepository>,
        tokens: Arc<dyn AccountTokenRepository>,
        mail: Arc<AccountMail>,
        hasher: PasswordHasher,
        revoker: Revoker,
    ) -> Self {
        Self {
            users,
            tokens,
            mail,
            hasher,
            revoker,
            forget: None,
        }
    }

    /// Tells `forget` about every account this service changes.
    #[must_use]
    pub fn forgetting_through(mut self, forget: ForgetUser) -> Self {
        self.forget = Some(forget);
        self
    }

    fn changed(&self, id: Uuid) {
        if let Some(forget) = &self.forget {
            forget(id);
        }
    }

    /// The live token of `purpose` behind `secret`, used up by this call.
    async fn consume(
        &self,
        purpose: TokenPurpose,
        secret: &str,
    ) -> Result<AccountToken, ServiceError> {
        let token = self
            .tokens
            .consume(purpose, &hash_refresh_token(secret))
            .await?
            .ok_or(ServiceError::InvalidToken)?;
        if token.is_expired(Utc::now()) {
            return Err(ServiceError::InvalidToken);
        }
        Ok(token)
    }

    async fn account(&self, id: Uuid) -> Result<User, ServiceError> {
        self.users.find_by_id(id).await.map_err(|err| match err {
            RepoError::NotFound => ServiceError::Unauthenticated(TokenRejection::AccountDisabled),
            other => other.into(),
        })
    }
}

/// The address a token was mailed to, as the account stored it.
fn mailed_address(token: &AccountToken) -> Result<Email, ServiceError> {
    // Stored from an `Email`, so it parses; a row edited by hand is just an
    // unusable token.
    Email::parse(&token.email).map_err(|_| ServiceError::InvalidToken)
}

#[async_trait]
impl AccountService for AccountServiceImpl {
    async fn verify_email(&self, token: &str) -> Result<(), ServiceError> {
        let token = self.consume(TokenPurpose::VerifyEmail, token).await?;
        let email = mailed_address(&token)?;
        if !self
            .tokens
            .mark_email_verified(token.user_id, &email, Utc::now())
            .await?
        {
            // The account moved to another address (or is gone) since the
            // mail was sent: the old mailbox proves nothing now.
            return Err(ServiceError::InvalidToken);
        }
        self.changed(token.user_id);
        Ok(())
    }

    async fn resend_verification(&self, caller: &Principal) -> Result<(), ServiceError> {
        let user = self.account(caller.user_id).await?;
        if user.email_verified() {
            return Err(ServiceError::Conflict(
                "The e-mail address is already verified.",
            ));
        }
        let mailed = self
            .mail
            .verification(&user.username, &user.email, Utc::now())?;
        self.tokens
            .issue(user.id, mailed)
            .await
            .map_err(|err| match err {
                RepoError::NotFound => {
                    ServiceError::Unauthenticated(TokenRejection::AccountDisabled)
                }
                other => other.into(),
            })
    }

    async fn request_password_reset(&self, email: &Email) -> Result<(), ServiceError> {
        // Token, hash and message are made before anyone knows whether the
        // address has an account, and the store runs the same statements
        // either way: only the queued mail differs (ADR 0013).
        let mailed = self.mail.password_reset(email, Utc::now())?;
        // Whether the address is known is deliberately not counted, logged
        // or returned: `/metrics` may be open, and it would undo the rest.
        self.tokens.issue_for_address(mailed).await?;
        metrics::counter!("strata_password_reset_requests_total").increment(1);
        Ok(())
    }

    async fn reset_password(&self, token: &str, new: Password) -> Result<(), ServiceError> {
        let token = self.consume(TokenPurpose::PasswordReset, token).await?;
        let hash = self.hasher.hash(&new).await?;
        match self
            .users
            .set_password(token.user_id, hash, Utc::now())
            .await
        {
            Ok(()) => {}
            Err(RepoError::NotFound) => return Err(ServiceError::InvalidToken),
            Err(err) => return Err(err.into()),
        }
        // Whoever held a session may be who the owner is locking out.
        self.revoker
            .revoke(RevocationScope::User {
                user_id: token.user_id,
                except: None,
            })
            .await?;
        // Following the mail proved the mailbox too.
        let email = mailed_address(&token)?;
        self.tokens
            .mark_email_verified(token.user_id, &email, Utc::now())
            .await?;
        self.changed(token.user_id);
        Ok(())
    }

    async fn ensure_may_write(&self, caller: &Principal) -> Result<(), ServiceError> {
        if !self.mail.settings().require_verified_email {
            return Ok(());
        }
        // Read fresh, not from the `me` cache: a just-verified account must
        // be able to write at once.
        if self.account(caller.user_id).await?.email_verified() {
            Ok(())
        } else {
            Err(ServiceError::EmailNotVerified)
        }
    }
}

#[cfg(test)]
mod tests;
