//! Sessions, refresh tokens and revocations.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use strata_domain::RepoError;
use strata_domain::auth::{
    NewRefreshToken, NewSession, RefreshTokenRecord, Revocation, RevocationScope, SessionRepository,
};
use uuid::Uuid;

use crate::entities::{refresh_tokens, revocations, sessions};
use crate::error::DbResultExt;
use crate::tx::WriteGate;

/// [`SessionRepository`] over sea-orm. Every multi-statement operation runs in
/// one transaction, so a crash never leaves a session without its token, a
/// consumed token without its successor, or a revoked session without its
/// revocation record.
#[derive(Debug, Clone)]
pub struct SeaSessionRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
}

impl SeaSessionRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self { db, writes }
    }
}

/// PostgreSQL stores microseconds; truncating before writing makes values
/// returned from a write equal to what later reads yield on every backend.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn token_row(token: NewRefreshToken) -> refresh_tokens::ActiveModel {
    refresh_tokens::ActiveModel {
        id: Set(token.id),
        session_id: Set(token.session_id),
        token_hash: Set(token.token_hash),
        created_at: Set(micros(token.created_at)),
        expires_at: Set(micros(token.expires_at)),
        consumed_at: Set(None),
    }
}

/// Sessions revoked per statement (4 bind parameters each when recorded).
const REVOKE_CHUNK: usize = 1000;

/// The earliest `since` that is filtered on. Earlier bounds (callers pass
/// `DateTime::<Utc>::MIN_UTC` for "all") cannot match anything anyway and are
/// outside PostgreSQL's timestamp range, so they are dropped.
const EARLIEST_FILTERED_SINCE: DateTime<Utc> = DateTime::UNIX_EPOCH;

#[async_trait]
impl SessionRepository for SeaSessionRepository {
    async fn create(&self, session: NewSession, token: NewRefreshToken) -> Result<(), RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        sessions::Entity::insert(sessions::ActiveModel {
            id: Set(session.id),
            user_id: Set(session.user_id),
            created_at: Set(micros(session.created_at)),
            expires_at: Set(micros(session.expires_at)),
            revoked_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .or_repo("Failed to insert session")?;
        refresh_tokens::Entity::insert(token_row(token))
            .exec_without_returning(&txn)
            .await
            .or_repo("Failed to insert refresh token")?;
        txn.commit().await.or_repo("Failed to commit new session")
    }

    async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, RepoError> {
        let found = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(token_hash))
            .find_also_related(sessions::Entity)
            .one(&self.db)
            .await
            .or_repo("Failed to look up refresh token")?;
        Ok(found.and_then(|(token, session)| {
            let session = session?;
            Some(RefreshTokenRecord {
                id: token.id,
                session_id: token.session_id,
                user_id: session.user_id,
                expires_at: token.expires_at,
                consumed_at: token.consumed_at,
                session_expires_at: session.expires_at,
                session_revoked_at: session.revoked_at,
            })
        }))
    }

    async fn rotate(
        &self,
        consumed_id: Uuid,
        now: DateTime<Utc>,
        next: NewRefreshToken,
    ) -> Result<bool, RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        // The `consumed_at IS NULL` guard is the compare-and-swap: of two
        // concurrent refreshes with the same token, only one updates a row.
        let consumed = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::ConsumedAt, Expr::value(micros(now)))
            .filter(refresh_tokens::Column::Id.eq(consumed_id))
            .filter(refresh_tokens::Column::ConsumedAt.is_null())
            .exec(&txn)
            .await
            .or_repo("Failed to consume refresh token")?;
        if consumed.rows_affected == 0 {
            txn.rollback()
                .await
                .or_repo("Failed to roll back refresh token rotation")?;
            return Ok(false);
        }
        refresh_tokens::Entity::insert(token_row(next))
            .exec_without_returning(&txn)
            .await
            .or_repo("Failed to insert refresh token")?;
        txn.commit()
            .await
            .or_repo("Failed to commit refresh token rotation")?;
        Ok(true)
    }

    async fn revoke(
        &self,
        scope: RevocationScope,
        now: DateTime<Utc>,
        remember_until: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, RepoError> {
        let now = micros(now);
        let remember_until = micros(remember_until);
        let live = sessions::Column::RevokedAt.is_null();
        let select = match scope {
            RevocationScope::Session(id) => sessions::Entity::find()
                .filter(sessions::Column::Id.eq(id))
                .filter(live),
            RevocationScope::User { user_id, except } => {
                let select = sessions::Entity::find()
                    .filter(sessions::Column::UserId.eq(user_id))
                    .filter(live);
                match except {
                    Some(spared) => select.filter(sessions::Column::Id.ne(spared)),
                    None => select,
                }
            }
        };

        let txn = self.writes.begin(&self.db).await?;
        // FOR UPDATE (PostgreSQL; SQLite's IMMEDIATE transaction already
        // serialises writers) so two concurrent revocations of the same
        // session cannot both record it.
        let targets: Vec<(Uuid, Uuid)> = select
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::UserId)
            .order_by_asc(sessions::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await
            .or_repo("Failed to find sessions to revoke")?;
        if targets.is_empty() {
            txn.rollback()
                .await
                .or_repo("Failed to roll back empty revocation")?;
            return Ok(Vec::new());
        }

        // Chunked so a user with very many sessions stays under the
        // backends' bind-parameter limits (SQLite: 32766).
        for chunk in targets.chunks(REVOKE_CHUNK) {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::RevokedAt, Expr::value(now))
                .filter(sessions::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
                .exec(&txn)
                .await
                .or_repo("Failed to revoke sessions")?;
            revocations::Entity::insert_many(chunk.iter().map(|&(session_id, user_id)| {
                revocations::ActiveModel {
                    session_id: Set(session_id),
                    user_id: Set(user_id),
                    revoked_at: Set(now),
                    expires_at: Set(remember_until),
                }
            }))
            .exec_without_returning(&txn)
            .await
            .or_repo("Failed to record revocations")?;
        }
        txn.commit().await.or_repo("Failed to commit revocation")?;

        Ok(targets
            .into_iter()
            .map(|(session_id, _)| Revocation {
                session_id,
                revoked_at: now,
                expires_at: remember_until,
            })
            .collect())
    }

    async fn revocations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, RepoError> {
        let mut select =
            revocations::Entity::find().filter(revocations::Column::ExpiresAt.gt(micros(now)));
        if since > EARLIEST_FILTERED_SINCE {
            select = select.filter(revocations::Column::RevokedAt.gte(micros(since)));
        }
        let rows = select
            .order_by_asc(revocations::Column::RevokedAt)
            .order_by_asc(revocations::Column::SessionId)
            .all(&self.db)
            .await
            .or_repo("Failed to load revocations")?;
        Ok(rows
            .into_iter()
            .map(|row| Revocation {
                session_id: row.session_id,
                revoked_at: row.revoked_at,
                expires_at: row.expires_at,
            })
            .collect())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let now = micros(now);
        let txn = self.writes.begin(&self.db).await?;
        let revocations = revocations::Entity::delete_many()
            .filter(revocations::Column::ExpiresAt.lt(now))
            .exec(&txn)
            .await
            .or_repo("Failed to purge expired revocations")?;
        let tokens = refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::ExpiresAt.lt(now))
            .exec(&txn)
            .await
            .or_repo("Failed to purge expired refresh tokens")?;
        // Tokens of these sessions that had not expired yet go by cascade and
        // are not counted.
        let sessions = sessions::Entity::delete_many()
            .filter(sessions::Column::ExpiresAt.lt(now))
            .exec(&txn)
            .await
            .or_repo("Failed to purge expired sessions")?;
        txn.commit().await.or_repo("Failed to commit purge")?;
        Ok(revocations.rows_affected + tokens.rows_affected + sessions.rows_affected)
    }
}
