//! Accounts: the caller's own (`me`), and administration of everyone's.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use strata_domain::RepoError;
use strata_domain::accounts::MailedToken;
use strata_domain::auth::{Principal, RevocationScope};
use strata_domain::events::EventBus;
use strata_domain::idempotency::Completion;
use strata_domain::page::{Page, PageRequest, Sort};
use strata_domain::users::{
    DailyCount, Email, FullName, NewUser, Role, User, UserChanges, UserFilter, UserRepository,
    UserSortField, Username,
};
use uuid::Uuid;

use crate::accounts::{AccountMail, ForgetUser};
use crate::auth::Registration;
use crate::error::{TokenRejection, require_admin};
use crate::revocation::Revoker;
use crate::{PasswordHasher, ServiceError};

/// Days covered by [`UserStatsReport::signups`], today included.
pub const SIGNUP_DAYS: i64 = 30;

/// Changes a user may make to their own profile. Role and activation are
/// deliberately absent: only administrators change those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub email: Option<Email>,
    pub username: Option<Username>,
    /// `Some(None)` clears the name.
    pub full_name: Option<Option<FullName>>,
}

/// Account statistics with one entry per day of the last [`SIGNUP_DAYS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatsReport {
    pub total: u64,
    pub active: u64,
    pub inactive: u64,
    pub admins: u64,
    /// Oldest first, days without sign-ups included with a zero count.
    pub signups: Vec<DailyCount>,
}

/// Use cases on accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserService: Send + Sync {
    /// # Errors
    /// [`ServiceError::Unauthenticated`] when the account no longer exists.
    async fn me(&self, caller: &Principal) -> Result<User, ServiceError>;

    /// # Errors
    /// [`ServiceError::Taken`] when the new e-mail or username is in use;
    /// [`ServiceError::Unauthenticated`] when the account no longer exists.
    async fn update_me(
        &self,
        caller: &Principal,
        changes: ProfileChanges,
    ) -> Result<User, ServiceError>;

    /// Deletes the caller's account after checking their password; every
    /// session of it is revoked first.
    ///
    /// # Errors
    /// [`ServiceError::InvalidCredentials`] for a wrong password (nothing is
    /// deleted then).
    async fn delete_me(&self, caller: &Principal, password: &str) -> Result<(), ServiceError>;

    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller is an admin.
    async fn list(
        &self,
        caller: &Principal,
        filter: UserFilter,
        sort: Sort<UserSortField>,
        page: PageRequest,
    ) -> Result<Page<User>, ServiceError>;

    /// Creates an account with any role.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller is an admin;
    /// [`ServiceError::Taken`] when the e-mail or username is in use;
    /// [`ServiceError::IdempotencyInProgress`] when `once` lost its key.
    async fn create(
        &self,
        caller: &Principal,
        registration: Registration,
        role: Role,
        once: Option<Completion<User>>,
    ) -> Result<User, ServiceError>;

    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller is an admin;
    /// [`ServiceError::NotFound`] for an unknown id.
    async fn get(&self, caller: &Principal, id: Uuid) -> Result<User, ServiceError>;

    /// Applies any changes, including role and activation. A changed role or a
    /// deactivation revokes the account's sessions, so its existing tokens
    /// stop working at once.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller is an admin;
    /// [`ServiceError::Conflict`] when an admin demotes or deactivates
    /// themself; [`ServiceError::NotFound`]; [`ServiceError::Taken`].
    async fn update(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: UserChanges,
    ) -> Result<User, ServiceError>;

    /// Deletes an account and everything it owns.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller is an admin;
    /// [`ServiceError::Conflict`] when an admin deletes themself;
    /// [`ServiceError::NotFound`].
    async fn delete(&self, caller: &Principal, id: Uuid) -> Result<(), ServiceError>;

    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller is an admin.
    async fn stats(&self, caller: &Principal) -> Result<UserStatsReport, ServiceError>;

    /// The next batch of an export (see [`UserRepository::export_batch`]).
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller is an admin.
    async fn export_batch(
        &self,
        caller: &Principal,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<User>, ServiceError>;
}

pub struct UserServiceImpl {
    users: Arc<dyn UserRepository>,
    hasher: PasswordHasher,
    revoker: Revoker,
    /// Accounts as last read, for `me`: the most frequent authenticated call
    /// would otherwise cost a database round trip each time. Writes through
    /// this service invalidate at once; writes on other instances show after
    /// the TTL (security-relevant changes revoke sessions, which is immediate).
    cache: Option<UserCache>,
    /// Renders the verification mail of a new or changed address; without
    /// it no mail is queued.
    mail: Option<Arc<AccountMail>>,
    bus: Option<Arc<dyn EventBus>>,
}

/// Accounts cached for `me`, keyed by id. Clones share the entries, so the
/// event consumer can invalidate what the service cached.
pub type UserCache = moka::sync::Cache<Uuid, User>;

impl std::fmt::Debug for UserServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserServiceImpl").finish_non_exhaustive()
    }
}

impl UserServiceImpl {
    pub fn new(users: Arc<dyn UserRepository>, hasher: PasswordHasher, revoker: Revoker) -> Self {
        Self {
            users,
            hasher,
            revoker,
            cache: None,
            mail: None,
            bus: None,
        }
    }

    /// Queues a verification mail with every account created and every
    /// address changed through this service.
    #[must_use]
    pub fn with_account_mail(mut self, mail: Arc<AccountMail>) -> Self {
        self.mail = Some(mail);
        self
    }

    /// Drops an account from the `me` cache; for services that change
    /// accounts behind this one's back (verification, reset).
    pub fn forgetter(&self) -> ForgetUser {
        let cache = self.cache.clone();
        Arc::new(move |id| {
            if let Some(cache) = &cache {
                cache.invalidate(&id);
            }
        })
    }

    /// The verification mail for `changes.email`, when it differs from
    /// what `current` has.
    fn verification_of(
        &self,
        current: &User,
        changes: &UserChanges,
    ) -> Result<Option<MailedToken>, ServiceError> {
        match (&self.mail, &changes.email) {
            (Some(mail), Some(email)) if *email != current.email => {
                let username = changes.username.as_ref().unwrap_or(&current.username);
                mail.verification(username, email, Utc::now()).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn revoke_all(&self, user_id: Uuid) -> Result<(), ServiceError> {
        self.revoker
            .revoke(RevocationScope::User {
                user_id,
                except: None,
            })
            .await
            .map(drop)
    }
}

/// Hashes the password off the executor and inserts the account: the one
/// way accounts are created, by registration, admins and the CLI alike.
/// With `mail`, the account's verification mail is queued in the same
/// transaction as the account.
///
/// # Errors
/// [`ServiceError::Taken`] when the e-mail or username is in use.
pub async fn create_account(
    users: &dyn UserRepository,
    hasher: &PasswordHasher,
    mail: Option<&AccountMail>,
    registration: Registration,
    role: Role,
    once: Option<Completion<User>>,
) -> Result<User, ServiceError> {
    let password_hash = hasher.hash(&registration.password).await?;
    let now = Utc::now();
    let verification = mail
        .map(|mail| mail.verification(&registration.username, &registration.email, now))
        .transpose()?;
    let user = users
        .create_keyed(
            NewUser {
                id: Uuid::now_v7(),
                email: registration.email,
                username: registration.username,
                full_name: registration.full_name,
                password_hash,
                role,
                created_at: now,
                email_verified_at: None,
                verification,
            },
            once,
        )
        .await?;
    Ok(user)
}

/// A valid token whose account is gone: the client must log in again.
fn gone(err: RepoError) -> ServiceError {
    match err {
        RepoError::NotFound => ServiceError::Unauthenticated(TokenRejection::AccountDisabled),
        other => other.into(),
    }
}

/// One entry per day from `first` to today, zero where the store had none.
fn fill_days(first: chrono::NaiveDate, days: i64, counts: &[DailyCount]) -> Vec<DailyCount> {
    (0..days)
        .filter_map(|offset| first.checked_add_signed(Duration::days(offset)))
        .map(|date| DailyCount {
            date,
            count: counts
                .iter()
                .find(|c| c.date == date)
                .map_or(0, |c| c.count),
        })
        .collect()
}

#[async_trait]
impl UserService for UserServiceImpl {
    async fn me(&self, caller: &Principal) -> Result<User, ServiceError> {
        if let Some(user) = self.cache.as_ref().and_then(|c| c.get(&caller.user_id)) {
            return Ok(user);
        }
        let user = self.users.find_by_id(caller.user_id).await.map_err(gone)?;
        if let Some(cache) = &self.cache {
            cache.insert(user.id, user.clone());
        }
        Ok(user)
    }

    async fn update_me(
        &self,
        caller: &Principal,
        changes: ProfileChanges,
    ) -> Result<User, ServiceError> {
        let mut changes = UserChanges {
            email: changes.email,
            username: changes.username,
            full_name: changes.full_name,
            role: None,
            is_active: None,
            verification: None,
        };
        if changes.is_empty() {
            return self.me(caller).await;
        }
        if changes.email.is_some() && self.mail.is_some() {
            let current = self.me(caller).await?;
            changes.verification = self.verification_of(&current, &changes)?;
        }
        let user = self
            .users
            .update(caller.user_id, changes, Utc::now())
            .await
            .map_err(gone)?;
        self.remember(&user).await;
        Ok(user)
    }

    async fn delete_me(&self, caller: &Principal, password: &str) -> Result<(), ServiceError> {
        let credentials = self
            .users
            .find_credentials_by_id(caller.user_id)
            .await
            .map_err(gone)?;
        if !self
            .hasher
            .verify(password, &credentials.password_hash)
            .await?
        {
            return Err(ServiceError::InvalidCredentials);
        }
        // Revoke first: if the delete then fails the account survives but no
        // token of it works, which is the safe half-state.
        self.revoke_all(caller.user_id).await?;
        self.users.delete(caller.user_id).await.map_err(gone)?;
        self.forget(caller.user_id).await;
        Ok(())
    }

    async fn list(
        &self,
        caller: &Principal,
        filter: UserFilter,
        sort: Sort<UserSortField>,
        page: PageRequest,
    ) -> Result<Page<User>, ServiceError> {
        require_admin(caller)?;
        Ok(self.users.list(filter, sort, page).await?)
    }

    async fn create(
        &self,
        caller: &Principal,
        registration: Registration,
        role: Role,
        once: Option<Completion<User>>,
    ) -> Result<User, ServiceError> {
        require_admin(caller)?;
        create_account(
            self.users.as_ref(),
            &self.hasher,
            self.mail.as_deref(),
            registration,
            role,
            once,
        )
        .await
    }

    async fn get(&self, caller: &Principal, id: Uuid) -> Result<User, ServiceError> {
        require_admin(caller)?;
        Ok(self.users.find_by_id(id).await?)
    }

    async fn update(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: UserChanges,
    ) -> Result<User, ServiceError> {
        require_admin(caller)?;
        if id == caller.user_id
            && (changes.role == Some(Role::User) || changes.is_active == Some(false))
        {
            return Err(ServiceError::Conflict(
                "An administrator cannot demote or deactivate themself.",
            ));
        }
        let before = self.users.find_by_id(id).await?;
        let mut changes = changes;
        changes.verification = self.verification_of(&before, &changes)?;
        let after = if changes.is_empty() {
            before.clone()
        } else {
            self.users.update(id, changes, Utc::now()).await?
        };
        if after.role != before.role || (before.is_active && !after.is_active) {
            // Tokens carry the role, and a deactivated account must stop at
            // once: end every session so neither outlives the change.
            self.revoke_all(id).await?;
        }
        self.remember(&after).await;
        Ok(after)
    }

    async fn delete(&self, caller: &Principal, id: Uuid) -> Result<(), ServiceError> {
        require_admin(caller)?;
        if id == caller.user_id {
            return Err(ServiceError::Conflict(
                "An administrator cannot delete themself.",
            ));
        }
        self.users.find_by_id(id).await?;
        self.revoke_all(id).await?;
        self.users.delete(id).await?;
        self.forget(id).await;
        Ok(())
    }

    async fn stats(&self, caller: &Principal) -> Result<UserStatsReport, ServiceError> {
        require_admin(caller)?;
        let today = Utc::now().date_naive();
        let first = today - Duration::days(SIGNUP_DAYS - 1);
        let since = first.and_time(chrono::NaiveTime::MIN).and_utc();
        let stats = self.users.stats(since).await?;
        Ok(UserStatsReport {
            total: stats.total,
            active: stats.active,
            inactive: stats.total.saturating_sub(stats.active),
            admins: stats.admins,
            signups: fill_days(first, SIGNUP_DAYS, &stats.signups),
        })
    }

    async fn export_batch(
        &self,
        caller: &Principal,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<User>, ServiceError> {
        require_admin(caller)?;
        Ok(self.users.export_batch(after, limit).await?)
    }
}

#[path = "users_cache.rs"]
mod cache;

#[cfg(test)]
#[path = "users_tests.rs"]
pub(crate) mod tests;
