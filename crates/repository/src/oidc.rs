//! OpenID Connect storage: identities (`user_identities`), pending logins
//! (`oidc_pending_logins`) and one-time login codes (`oidc_login_codes`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use strata_domain::RepoError;
use strata_domain::oidc::{
    FlowMode, Identity, LoginCode, MAX_IDENTITIES, NewIdentity, OidcRepository, PendingLogin,
    Unlinked, may_unlink,
};
use strata_domain::users::{NewUser, PasswordHash, User};
use uuid::Uuid;

use crate::entities::{oidc_login_codes, oidc_pending_logins, user_identities, users};
use crate::error::DbResultExt;
use crate::jobs_wake;
use crate::query::{invalid_row, micros};
use crate::tx::WriteGate;
use crate::users::insert_in;

/// [`OidcRepository`] over sea-orm.
#[derive(Debug, Clone)]
pub struct SeaOidcRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
}

impl SeaOidcRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self { db, writes }
    }

    /// Deletes the row of `E` whose `column` equals `hash` and returns it,
    /// to the one caller whose delete removed it: single use under
    /// concurrency on both backends.
    async fn take<E>(&self, column: E::Column, hash: &str) -> Result<Option<E::Model>, RepoError>
    where
        E: EntityTrait,
        E::Model: Send + Sync,
    {
        let txn = self.writes.begin(&self.db).await?;
        let Some(row) = E::find()
            .filter(column.eq(hash))
            .one(&txn)
            .await
            .or_repo("Failed to look up a single-use OIDC secret")?
        else {
            return Ok(None);
        };
        let deleted = E::delete_many()
            .filter(column.eq(hash))
            .exec(&txn)
            .await
            .or_repo("Failed to consume a single-use OIDC secret")?
            .rows_affected;
        txn.commit()
            .await
            .or_repo("Failed to commit a single-use OIDC secret")?;
        Ok((deleted == 1).then_some(row))
    }
}

fn identity_row(user_id: Uuid, identity: &NewIdentity) -> user_identities::ActiveModel {
    user_identities::ActiveModel {
        id: Set(identity.id),
        user_id: Set(user_id),
        provider: Set(identity.provider.clone()),
        issuer: Set(identity.issuer.clone()),
        subject: Set(identity.subject.clone()),
        email: Set(identity.email.clone()),
        created_at: Set(micros(identity.created_at)),
    }
}

fn identity(row: user_identities::Model) -> Identity {
    Identity {
        id: row.id,
        user_id: row.user_id,
        provider: row.provider,
        issuer: row.issuer,
        subject: row.subject,
        email: row.email,
        created_at: row.created_at,
    }
}

impl TryFrom<oidc_pending_logins::Model> for PendingLogin {
    type Error = RepoError;

    fn try_from(row: oidc_pending_logins::Model) -> Result<Self, Self::Error> {
        let mode = FlowMode::parse(&row.mode)
            .ok_or_else(|| invalid_row("oidc_pending_logins", row.id, "mode", &row.mode))?;
        Ok(Self {
            id: row.id,
            state_hash: row.state_hash,
            binding_hash: row.binding_hash,
            provider: row.provider,
            nonce: row.nonce,
            pkce_verifier: row.pkce_verifier,
            mode,
            link_user_id: row.link_user_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[async_trait]
impl OidcRepository for SeaOidcRepository {
    async fn save_pending(&self, pending: PendingLogin) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        oidc_pending_logins::Entity::insert(oidc_pending_logins::ActiveModel {
            id: Set(pending.id),
            state_hash: Set(pending.state_hash),
            binding_hash: Set(pending.binding_hash),
            provider: Set(pending.provider),
            nonce: Set(pending.nonce),
            pkce_verifier: Set(pending.pkce_verifier),
            mode: Set(pending.mode.as_str().to_owned()),
            link_user_id: Set(pending.link_user_id),
            created_at: Set(micros(pending.created_at)),
            expires_at: Set(micros(pending.expires_at)),
        })
        .exec_without_returning(&db)
        .await
        .or_repo("Failed to store a pending OIDC login")?;
        Ok(())
    }

    async fn take_pending(&self, state_hash: &str) -> Result<Option<PendingLogin>, RepoError> {
        self.take::<oidc_pending_logins::Entity>(oidc_pending_logins::Column::StateHash, state_hash)
            .await?
            .map(PendingLogin::try_from)
            .transpose()
    }

    async fn find_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Identity>, RepoError> {
        Ok(user_identities::Entity::find()
            .filter(user_identities::Column::Issuer.eq(issuer))
            .filter(user_identities::Column::Subject.eq(subject))
            .one(&self.db)
            .await
            .or_repo("Failed to look up an identity")?
            .map(identity))
    }

    async fn create_account(
        &self,
        user: NewUser,
        identity: NewIdentity,
    ) -> Result<User, RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        let mailed = user.verification.is_some();
        let user = insert_in(&txn, user).await?;
        user_identities::Entity::insert(identity_row(user.id, &identity))
            .exec_without_returning(&txn)
            .await
            .or_repo("Failed to link an identity")?;
        txn.commit()
            .await
            .or_repo("Failed to commit an account created through OIDC")?;
        if mailed {
            jobs_wake::committed(&self.db);
        }
        Ok(user)
    }

    async fn link(&self, user_id: Uuid, identity: NewIdentity) -> Result<Identity, RepoError> {
        let db = self.writes.enter(&self.db).await?;
        user_identities::Entity::insert(identity_row(user_id, &identity))
            .exec_without_returning(&db)
            .await
            .or_repo("Failed to link an identity")?;
        let mut linked = identity.linked_to(user_id);
        linked.created_at = micros(linked.created_at);
        Ok(linked)
    }

    async fn identities(&self, user_id: Uuid) -> Result<Vec<Identity>, RepoError> {
        Ok(user_identities::Entity::find()
            .filter(user_identities::Column::UserId.eq(user_id))
            .order_by_asc(user_identities::Column::CreatedAt)
            .order_by_asc(user_identities::Column::Id)
            .limit(MAX_IDENTITIES as u64)
            .all(&self.db)
            .await
            .or_repo("Failed to list identities")?
            .into_iter()
            .map(identity)
            .collect())
    }

    async fn unlink(&self, user_id: Uuid, identity_id: Uuid) -> Result<Unlinked, RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        // A no-op write that locks the account's row until commit on
        // PostgreSQL (SQLite's write transaction already serialises), so
        // two unlinks of an account's last two identities cannot both see
        // the other one still there.
        let locked = users::Entity::update_many()
            .col_expr(
                users::Column::UpdatedAt,
                Expr::col(users::Column::UpdatedAt),
            )
            .filter(users::Column::Id.eq(user_id))
            .exec(&txn)
            .await
            .or_repo("Failed to lock the account")?
            .rows_affected;
        if locked == 0 {
            return Ok(Unlinked::NotFound);
        }
        let mine = user_identities::Entity::find_by_id(identity_id)
            .filter(user_identities::Column::UserId.eq(user_id))
            .one(&txn)
            .await
            .or_repo("Failed to look up an identity")?;
        if mine.is_none() {
            return Ok(Unlinked::NotFound);
        }
        let hash: Option<String> = users::Entity::find_by_id(user_id)
            .select_only()
            .column(users::Column::PasswordHash)
            .into_tuple()
            .one(&txn)
            .await
            .or_repo("Failed to read the account")?;
        let has_password = hash.is_some_and(|hash| PasswordHash::new(hash).is_set());
        let others = user_identities::Entity::find()
            .filter(user_identities::Column::UserId.eq(user_id))
            .filter(user_identities::Column::Id.ne(identity_id))
            .count(&txn)
            .await
            .or_repo("Failed to count identities")?;
        if !may_unlink(has_password, others) {
            return Ok(Unlinked::LastSignInMethod);
        }
        user_identities::Entity::delete_by_id(identity_id)
            .exec(&txn)
            .await
            .or_repo("Failed to unlink an identity")?;
        txn.commit().await.or_repo("Failed to commit an unlink")?;
        Ok(Unlinked::Removed)
    }

    async fn save_code(&self, code: LoginCode) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        oidc_login_codes::Entity::insert(oidc_login_codes::ActiveModel {
            id: Set(Uuid::now_v7()),
            code_hash: Set(code.code_hash),
            user_id: Set(code.user_id),
            created_at: Set(micros(code.created_at)),
            expires_at: Set(micros(code.expires_at)),
        })
        .exec_without_returning(&db)
        .await
        .or_repo("Failed to store a login code")?;
        Ok(())
    }

    async fn take_code(&self, code_hash: &str) -> Result<Option<LoginCode>, RepoError> {
        Ok(self
            .take::<oidc_login_codes::Entity>(oidc_login_codes::Column::CodeHash, code_hash)
            .await?
            .map(|row| LoginCode {
                code_hash: row.code_hash,
                user_id: row.user_id,
                created_at: row.created_at,
                expires_at: row.expires_at,
            }))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let db = self.writes.enter(&self.db).await?;
        let now = micros(now);
        let pending = oidc_pending_logins::Entity::delete_many()
            .filter(oidc_pending_logins::Column::ExpiresAt.lt(now))
            .exec(&db)
            .await
            .or_repo("Failed to purge expired pending OIDC logins")?
            .rows_affected;
        let codes = oidc_login_codes::Entity::delete_many()
            .filter(oidc_login_codes::Column::ExpiresAt.lt(now))
            .exec(&db)
            .await
            .or_repo("Failed to purge expired login codes")?
            .rows_affected;
        Ok(pending + codes)
    }
}
