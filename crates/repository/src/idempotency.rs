//! Idempotency keys (`idempotency_keys`): claims, leases, and the answers
//! stored by the transaction of each keyed effect (ADR 0019).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryTrait,
};
use strata_domain::RepoError;
use strata_domain::idempotency::{
    Attempt, Claim, Completion, IdempotencyRepository, KeyedRequest, StoredResponse,
};
use uuid::Uuid;

use crate::entities::idempotency_keys::{self, Column};
use crate::error::DbResultExt;
use crate::query::micros;
use crate::tx::WriteGate;

/// How many times a claim re-reads a key that changed under it before it
/// reports the key as busy.
const CLAIM_ROUNDS: usize = 3;

/// [`IdempotencyRepository`] over sea-orm.
#[derive(Debug, Clone)]
pub struct SeaIdempotencyRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
}

impl SeaIdempotencyRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self { db, writes }
    }

    async fn find(
        &self,
        principal_id: Uuid,
        key: &str,
    ) -> Result<Option<idempotency_keys::Model>, RepoError> {
        idempotency_keys::Entity::find_by_id((principal_id, key.to_owned()))
            .one(&self.db)
            .await
            .or_repo("Failed to read an idempotency key")
    }

    /// Runs one conditional statement; whether it changed a row.
    async fn changed(
        &self,
        statement: sea_orm::Statement,
        context: &'static str,
    ) -> Result<bool, RepoError> {
        let result = self.writes.execute(&self.db, statement, context).await?;
        Ok(result.rows_affected() == 1)
    }

    /// Hands `row`'s key to a new attempt when `row` is still as read.
    async fn take_over(
        &self,
        row: &idempotency_keys::Model,
        request: &KeyedRequest,
        fresh: &idempotency_keys::ActiveModel,
    ) -> Result<bool, RepoError> {
        let mut update = idempotency_keys::Entity::update_many()
            .set(fresh.clone())
            .filter(Column::PrincipalId.eq(request.principal_id))
            .filter(Column::Key.eq(request.key.as_str()))
            .filter(Column::Attempt.eq(row.attempt));
        // An expired record is replaced whatever it holds; an abandoned
        // attempt only while it still has no answer.
        if row.response_status.is_some() {
            update = update.filter(Column::ResponseStatus.is_not_null());
        } else {
            update = update.filter(Column::ResponseStatus.is_null());
        }
        let statement = update.build(self.db.get_database_backend());
        self.changed(statement, "Failed to take an idempotency key over")
            .await
    }
}

fn stored(row: &idempotency_keys::Model, status: i32) -> Result<StoredResponse, RepoError> {
    let headers: Vec<(String, String)> = match &row.response_headers {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| RepoError::unexpected("Failed to read a stored answer's headers", e))?,
        None => Vec::new(),
    };
    let status = u16::try_from(status)
        .map_err(|e| RepoError::unexpected("Failed to read a stored answer's status", e))?;
    Ok(StoredResponse {
        status,
        headers,
        body: row.response_body.clone().unwrap_or_default(),
    })
}

#[async_trait]
impl IdempotencyRepository for SeaIdempotencyRepository {
    async fn claim(
        &self,
        request: &KeyedRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Claim, RepoError> {
        let now = micros(now);
        let attempt = Attempt {
            principal_id: request.principal_id,
            key: request.key.clone(),
            token: Uuid::now_v7(),
        };
        let fresh = idempotency_keys::ActiveModel {
            principal_id: Set(request.principal_id),
            key: Set(request.key.as_str().to_owned()),
            fingerprint: Set(request.fingerprint.clone()),
            attempt: Set(attempt.token),
            locked_until: Set(micros(lease_until)),
            response_status: Set(None),
            response_headers: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            expires_at: Set(micros(expires_at)),
        };
        let backend = self.db.get_database_backend();
        for _ in 0..CLAIM_ROUNDS {
            // A deleted account's key breaks the foreign key: NotFound.
            let insert = idempotency_keys::Entity::insert(fresh.clone())
                .on_conflict(
                    OnConflict::columns([Column::PrincipalId, Column::Key])
                        .do_nothing()
                        .to_owned(),
                )
                .build(backend);
            if self
                .changed(insert, "Failed to claim an idempotency key")
                .await?
            {
                return Ok(Claim::Granted(attempt));
            }
            let Some(row) = self
                .find(request.principal_id, request.key.as_str())
                .await?
            else {
                continue; // purged in between: insert again
            };
            if row.expires_at <= now {
                if self.take_over(&row, request, &fresh).await? {
                    return Ok(Claim::Granted(attempt));
                }
                continue;
            }
            if row.fingerprint != request.fingerprint {
                return Ok(Claim::Mismatch);
            }
            if let Some(status) = row.response_status {
                return Ok(Claim::Replay(stored(&row, status)?));
            }
            if row.locked_until > now {
                return Ok(Claim::InProgress {
                    locked_until: row.locked_until,
                });
            }
            // The attempt holding the key outlived its lease without an
            // answer (its process died, or it is still running and will
            // find the key gone when it completes): this one takes over.
            if self.take_over(&row, request, &fresh).await? {
                return Ok(Claim::Granted(attempt));
            }
        }
        // The key kept changing under this claim: another attempt is busy.
        Ok(Claim::InProgress {
            locked_until: micros(lease_until),
        })
    }

    async fn release(&self, attempt: &Attempt) -> Result<(), RepoError> {
        let delete = idempotency_keys::Entity::delete_many()
            .filter(Column::PrincipalId.eq(attempt.principal_id))
            .filter(Column::Key.eq(attempt.key.as_str()))
            .filter(Column::Attempt.eq(attempt.token))
            .filter(Column::ResponseStatus.is_null())
            .build(self.db.get_database_backend());
        self.writes
            .execute(&self.db, delete, "Failed to release an idempotency key")
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let delete = idempotency_keys::Entity::delete_many()
            .filter(Column::ExpiresAt.lt(micros(now)))
            .build(self.db.get_database_backend());
        let result = self
            .writes
            .execute(&self.db, delete, "Failed to purge idempotency keys")
            .await?;
        Ok(result.rows_affected())
    }
}

/// Completes `once`'s attempt with the answer for `written`, on `conn`: the
/// transaction that wrote `written`, so the answer commits with the effect.
///
/// # Errors
/// [`RepoError::ClaimLost`] when the attempt no longer holds its key (a retry
/// took it over after the lease ran out); the caller's transaction must then
/// be rolled back, which dropping it without a commit does.
pub(crate) async fn complete<T, C: ConnectionTrait>(
    conn: &C,
    once: Option<Completion<T>>,
    written: &T,
) -> Result<(), RepoError> {
    let Some(once) = once else {
        return Ok(());
    };
    let (attempt, response) = once.finish(written);
    let headers = serde_json::to_string(&response.headers)
        .map_err(|e| RepoError::unexpected("Failed to store an answer's headers", e))?;
    let done = idempotency_keys::Entity::update_many()
        .col_expr(
            Column::ResponseStatus,
            Expr::value(i32::from(response.status)),
        )
        .col_expr(Column::ResponseHeaders, Expr::value(headers))
        .col_expr(Column::ResponseBody, Expr::value(response.body))
        .filter(Column::PrincipalId.eq(attempt.principal_id))
        .filter(Column::Key.eq(attempt.key.as_str()))
        .filter(Column::Attempt.eq(attempt.token))
        .filter(Column::ResponseStatus.is_null())
        .exec(conn)
        .await
        .or_repo("Failed to store an idempotent answer")?;
    if done.rows_affected == 1 {
        Ok(())
    } else {
        Err(RepoError::ClaimLost)
    }
}
