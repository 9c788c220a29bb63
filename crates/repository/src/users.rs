//! Accounts, stored in `users`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QuerySelect,
};
use strata_domain::RepoError;
use strata_domain::events::EventBus;
use strata_domain::idempotency::Completion;
use strata_domain::notifications::NewNotification;
use strata_domain::page::{Page, PageRequest, Sort};
use strata_domain::users::{
    Email, FullName, NewUser, PasswordHash, Role, User, UserChanges, UserCredentials, UserFilter,
    UserRepository, UserSortField, UserStats, Username,
};
use uuid::Uuid;

use crate::accounts::issue_in;
use crate::entities::users;
use crate::error::DbResultExt;
use crate::idempotency;
use crate::notifications::notify_in;
use crate::realtime::Publisher;
use crate::tx::WriteGate;
use crate::{jobs_wake, users_admin};

/// [`UserRepository`] over sea-orm. Case-insensitive uniqueness is enforced by
/// the schema's unique indexes on `email` (stored lower-cased) and
/// `username_lower`, so racing inserts cannot both succeed.
#[derive(Debug, Clone)]
pub struct SeaUserRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
    /// Where the notifications of role changes are announced.
    events: Publisher,
}

impl SeaUserRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self {
            db,
            writes,
            events: Publisher::default(),
        }
    }

    /// Publishes the notifications of role changes on `bus`, after commit.
    #[must_use]
    pub fn with_events(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.events = Publisher::new(bus);
        self
    }

    async fn find_model(&self, id: Uuid) -> Result<users::Model, RepoError> {
        users::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .or_repo("Failed to load user")?
            .ok_or(RepoError::NotFound)
    }
}

/// A stored row that no longer satisfies the domain's rules: the database
/// was edited behind the application's back, or the rules were tightened
/// without a data migration.
#[derive(Debug, thiserror::Error)]
#[error("stored users.{column} of user {id} is invalid: {reason}")]
struct InvalidStoredUser {
    id: Uuid,
    column: &'static str,
    reason: String,
}

fn invalid(id: Uuid, column: &'static str, reason: impl ToString) -> RepoError {
    RepoError::unexpected(
        "Failed to read stored user",
        InvalidStoredUser {
            id,
            column,
            reason: reason.to_string(),
        },
    )
}

impl TryFrom<users::Model> for User {
    type Error = RepoError;

    fn try_from(row: users::Model) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(User {
            id,
            email: Email::parse(&row.email).map_err(|v| invalid(id, "email", v))?,
            username: Username::parse(&row.username).map_err(|v| invalid(id, "username", v))?,
            full_name: match row.full_name.as_deref() {
                Some(raw) => FullName::parse(raw).map_err(|v| invalid(id, "full_name", v))?,
                None => None,
            },
            role: Role::parse(&row.role).map_err(|v| invalid(id, "role", v))?,
            is_active: row.is_active,
            email_verified_at: row.email_verified_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn credentials(row: users::Model) -> Result<UserCredentials, RepoError> {
    let password_hash = PasswordHash::new(row.password_hash.clone());
    Ok(UserCredentials {
        user: User::try_from(row)?,
        password_hash,
    })
}

/// Inserts `user` in the caller's transaction, with its verification token
/// and mail when it has one; the caller wakes the workers after committing
/// ([`jobs_wake::committed`]) if it did.
///
/// # Errors
/// [`RepoError::Conflict`] for a taken address or username.
pub(crate) async fn insert_in(
    txn: &impl ConnectionTrait,
    user: NewUser,
) -> Result<User, RepoError> {
    // PostgreSQL keeps microseconds; truncating up front makes the returned
    // user equal to what a later read yields on every backend.
    let created_at = user.created_at.trunc_subsecs(6);
    let email_verified_at = user.email_verified_at.map(|at| at.trunc_subsecs(6));
    let row = users::ActiveModel {
        id: Set(user.id),
        email: Set(user.email.as_str().to_owned()),
        username: Set(user.username.as_str().to_owned()),
        username_lower: Set(user.username.normalized()),
        full_name: Set(user.full_name.as_ref().map(|n| n.as_str().to_owned())),
        password_hash: Set(user.password_hash.as_str().to_owned()),
        role: Set(user.role.as_str().to_owned()),
        is_active: Set(true),
        email_verified_at: Set(email_verified_at),
        created_at: Set(created_at),
        updated_at: Set(created_at),
    };
    users::Entity::insert(row)
        .exec_without_returning(txn)
        .await
        .or_repo("Failed to insert user")?;
    if let Some(verification) = &user.verification {
        issue_in(txn, user.id, verification).await?;
    }
    Ok(User {
        id: user.id,
        email: user.email,
        username: user.username,
        full_name: user.full_name,
        role: user.role,
        is_active: true,
        email_verified_at,
        created_at,
        updated_at: created_at,
    })
}

#[async_trait]
impl UserRepository for SeaUserRepository {
    async fn create_keyed(
        &self,
        user: NewUser,
        once: Option<Completion<User>>,
    ) -> Result<User, RepoError> {
        // The account and its verification mail exist together or not at all.
        let txn = self.writes.begin(&self.db).await?;
        let mailed = user.verification.is_some();
        let user = insert_in(&txn, user).await?;
        idempotency::complete(&txn, once, &user).await?;
        txn.commit().await.or_repo("Failed to commit new user")?;
        if mailed {
            jobs_wake::committed(&self.db);
        }
        Ok(user)
    }

    async fn find_by_id(&self, id: Uuid) -> Result<User, RepoError> {
        self.find_model(id).await.and_then(User::try_from)
    }

    async fn find_credentials(&self, login: &str) -> Result<Option<UserCredentials>, RepoError> {
        // Emails are stored lower-cased and usernames have a folded twin, so
        // one indexed equality per column covers "either, in any case".
        // The two cannot collide: a username never contains '@'.
        if crate::query::unmatchable(login) {
            return Ok(None);
        }
        let folded = login.trim().to_lowercase();
        users::Entity::find()
            .filter(
                Condition::any()
                    .add(users::Column::Email.eq(folded.as_str()))
                    .add(users::Column::UsernameLower.eq(folded.as_str())),
            )
            .one(&self.db)
            .await
            .or_repo("Failed to look up user credentials")?
            .map(credentials)
            .transpose()
    }

    async fn find_credentials_by_id(&self, id: Uuid) -> Result<UserCredentials, RepoError> {
        self.find_model(id).await.and_then(credentials)
    }

    async fn update(
        &self,
        id: Uuid,
        changes: UserChanges,
        now: DateTime<Utc>,
    ) -> Result<User, RepoError> {
        let mut update = users::Entity::update_many()
            .col_expr(users::Column::UpdatedAt, Expr::value(now.trunc_subsecs(6)))
            .filter(users::Column::Id.eq(id));
        if let Some(email) = &changes.email {
            update = update.col_expr(users::Column::Email, Expr::value(email.as_str()));
        }
        if let Some(username) = &changes.username {
            update = update
                .col_expr(users::Column::Username, Expr::value(username.as_str()))
                .col_expr(
                    users::Column::UsernameLower,
                    Expr::value(username.normalized()),
                );
        }
        if let Some(full_name) = &changes.full_name {
            let value = full_name.as_ref().map(|n| n.as_str().to_owned());
            update = update.col_expr(users::Column::FullName, Expr::value(value));
        }
        if let Some(role) = changes.role {
            update = update.col_expr(users::Column::Role, Expr::value(role.as_str()));
        }
        if let Some(is_active) = changes.is_active {
            update = update.col_expr(users::Column::IsActive, Expr::value(is_active));
        }

        // Update and read back in one transaction so the caller gets exactly
        // the row its write produced, not one a concurrent writer changed.
        let txn = self.writes.begin(&self.db).await?;
        let mut address_changed = false;
        if let Some(email) = &changes.email {
            // Only a different address loses its proof, and only then is
            // the new one mailed.
            address_changed = users::Entity::update_many()
                .col_expr(
                    users::Column::EmailVerifiedAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(users::Column::Id.eq(id))
                .filter(users::Column::Email.ne(email.as_str()))
                .exec(&txn)
                .await
                .or_repo("Failed to clear e-mail verification")?
                .rows_affected
                == 1;
        }
        // A role change is told to its user, with the change.
        let role_before = match changes.role {
            Some(_) => users::Entity::find_by_id(id)
                .select_only()
                .column(users::Column::Role)
                .into_tuple::<String>()
                .one(&txn)
                .await
                .or_repo("Failed to load user")?,
            None => None,
        };
        let result = update.exec(&txn).await.or_repo("Failed to update user")?;
        if result.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        let mailed = match &changes.verification {
            Some(verification) if address_changed => {
                issue_in(&txn, id, verification).await?;
                true
            }
            _ => false,
        };
        let row = users::Entity::find_by_id(id)
            .one(&txn)
            .await
            .or_repo("Failed to load updated user")?
            .ok_or(RepoError::NotFound)?;
        let before = role_before.as_deref().and_then(|r| Role::parse(r).ok());
        let mut told = Vec::new();
        if let (Some(before), Some(after)) = (before, changes.role)
            && let Some(notification) = NewNotification::role_changed(id, before, after, now)
        {
            told.push(notify_in(&txn, notification).await?);
        }
        txn.commit().await.or_repo("Failed to commit user update")?;
        if mailed {
            jobs_wake::committed(&self.db);
        }
        self.events.publish(told).await;
        User::try_from(row)
    }

    async fn set_password(
        &self,
        id: Uuid,
        hash: PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        let result = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now.trunc_subsecs(6)))
            .filter(users::Column::Id.eq(id))
            .exec(&db)
            .await
            .or_repo("Failed to update password")?;
        if result.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        Ok(())
    }

    async fn delete(&self, id: Uuid) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        // Sessions, refresh tokens, items, posts (and their comments) and
        // comments go with the row through ON DELETE CASCADE, in this one
        // statement; revocations deliberately stay.
        let result = users::Entity::delete_by_id(id)
            .exec(&db)
            .await
            .or_repo("Failed to delete user")?;
        if result.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        Ok(())
    }

    async fn list(
        &self,
        filter: UserFilter,
        sort: Sort<UserSortField>,
        page: PageRequest,
    ) -> Result<Page<User>, RepoError> {
        users_admin::list(&self.db, filter, sort, page).await
    }

    async fn stats(&self, since: DateTime<Utc>) -> Result<UserStats, RepoError> {
        users_admin::stats(&self.db, since).await
    }

    async fn export_batch(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<User>, RepoError> {
        users_admin::export_batch(&self.db, after, limit).await
    }
}
