//! Account tokens, stored in `account_tokens`, and the mails that carry
//! them, queued in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use strata_domain::RepoError;
use strata_domain::accounts::{
    AccountToken, AccountTokenRepository, MailedToken, TokenDraft, TokenPurpose,
};
use strata_domain::users::Email;
use uuid::Uuid;

use crate::entities::{account_tokens, users};
use crate::error::DbResultExt;
use crate::jobs::enqueue_in;
use crate::jobs_wake;
use crate::query::{invalid_row, micros};
use crate::tx::WriteGate;

/// [`AccountTokenRepository`] over sea-orm.
#[derive(Debug, Clone)]
pub struct SeaAccountTokenRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
}

impl SeaAccountTokenRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self { db, writes }
    }
}

/// Stores `mailed` for account `user_id` in the caller's transaction,
/// removing the account's older tokens of the same purpose, and queues the
/// mail. The caller calls [`jobs_wake::committed`] after committing.
///
/// # Errors
/// [`RepoError::NotFound`] when the account does not exist; storage failures.
pub(crate) async fn issue_in(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    mailed: &MailedToken,
) -> Result<(), RepoError> {
    let token = &mailed.token;
    supersede(txn, user_id, token.purpose).await?;
    account_tokens::Entity::insert(row(user_id, token))
        .exec_without_returning(txn)
        .await
        .or_repo("Failed to insert account token")?;
    enqueue_in(txn, &mailed.mail).await?;
    Ok(())
}

async fn supersede(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: TokenPurpose,
) -> Result<(), RepoError> {
    account_tokens::Entity::delete_many()
        .filter(account_tokens::Column::UserId.eq(user_id))
        .filter(account_tokens::Column::Purpose.eq(purpose.as_str()))
        .exec(txn)
        .await
        .or_repo("Failed to delete superseded account tokens")?;
    Ok(())
}

fn row(user_id: Uuid, token: &TokenDraft) -> account_tokens::ActiveModel {
    account_tokens::ActiveModel {
        id: Set(token.id),
        user_id: Set(user_id),
        purpose: Set(token.purpose.as_str().to_owned()),
        token_hash: Set(token.token_hash.clone()),
        email: Set(token.email.as_str().to_owned()),
        created_at: Set(micros(token.created_at)),
        expires_at: Set(micros(token.expires_at)),
    }
}

impl TryFrom<account_tokens::Model> for AccountToken {
    type Error = RepoError;

    fn try_from(row: account_tokens::Model) -> Result<Self, Self::Error> {
        let purpose = TokenPurpose::parse(&row.purpose)
            .ok_or_else(|| invalid_row("account_tokens", row.id, "purpose", &row.purpose))?;
        Ok(Self {
            id: row.id,
            user_id: row.user_id,
            purpose,
            email: row.email,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[async_trait]
impl AccountTokenRepository for SeaAccountTokenRepository {
    async fn issue(&self, user_id: Uuid, token: MailedToken) -> Result<(), RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        issue_in(&txn, user_id, &token).await?;
        txn.commit()
            .await
            .or_repo("Failed to commit account token")?;
        jobs_wake::committed(&self.db);
        Ok(())
    }

    async fn issue_for_address(&self, mailed: MailedToken) -> Result<bool, RepoError> {
        let token = &mailed.token;
        let email = token.email.as_str();
        let txn = self.writes.begin(&self.db).await?;
        // Both statements name the account through a subquery on the
        // address, so an unknown address runs exactly what a known one does.
        let owner = Query::select()
            .column(users::Column::Id)
            .from(users::Entity)
            .and_where(users::Column::Email.eq(email))
            .to_owned();
        account_tokens::Entity::delete_many()
            .filter(account_tokens::Column::UserId.in_subquery(owner))
            .filter(account_tokens::Column::Purpose.eq(token.purpose.as_str()))
            .exec(&txn)
            .await
            .or_repo("Failed to delete superseded account tokens")?;
        let select = Query::select()
            .expr(Expr::val(token.id))
            .column(users::Column::Id)
            .expr(Expr::val(token.purpose.as_str()))
            .expr(Expr::val(token.token_hash.as_str()))
            .expr(Expr::val(email))
            .expr(Expr::val(micros(token.created_at)))
            .expr(Expr::val(micros(token.expires_at)))
            .from(users::Entity)
            .and_where(users::Column::Email.eq(email))
            .to_owned();
        let insert = Query::insert()
            .into_table(account_tokens::Entity)
            .columns([
                account_tokens::Column::Id,
                account_tokens::Column::UserId,
                account_tokens::Column::Purpose,
                account_tokens::Column::TokenHash,
                account_tokens::Column::Email,
                account_tokens::Column::CreatedAt,
                account_tokens::Column::ExpiresAt,
            ])
            .select_from(select)
            .map_err(|err| RepoError::unexpected("Failed to build account token insert", err))?
            .to_owned();
        let inserted = txn
            .execute(&insert)
            .await
            .or_repo("Failed to insert account token")?
            .rows_affected();
        let known = inserted == 1;
        // The mail job is written for every address, in a savepoint that is
        // kept only for a known one: the unknown path does the same insert
        // (and, on PostgreSQL, the same NOTIFY, which a rolled-back savepoint
        // discards) instead of skipping it.
        let mail = txn
            .begin()
            .await
            .or_repo("Failed to begin the mail savepoint")?;
        enqueue_in(&mail, &mailed.mail).await?;
        if known {
            mail.commit().await
        } else {
            mail.rollback().await
        }
        .or_repo("Failed to end the mail savepoint")?;
        txn.commit()
            .await
            .or_repo("Failed to commit account token")?;
        // Woken either way: idle workers then poll for both outcomes alike.
        jobs_wake::committed(&self.db);
        Ok(known)
    }

    async fn consume(
        &self,
        purpose: TokenPurpose,
        token_hash: &str,
    ) -> Result<Option<AccountToken>, RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        let Some(row) = account_tokens::Entity::find()
            .filter(account_tokens::Column::TokenHash.eq(token_hash))
            .filter(account_tokens::Column::Purpose.eq(purpose.as_str()))
            .one(&txn)
            .await
            .or_repo("Failed to look up account token")?
        else {
            return Ok(None);
        };
        // The delete decides: of two transactions that both read the row,
        // only the one whose delete removed it may use the token.
        let deleted = account_tokens::Entity::delete_by_id(row.id)
            .exec(&txn)
            .await
            .or_repo("Failed to consume account token")?
            .rows_affected;
        txn.commit()
            .await
            .or_repo("Failed to commit account token use")?;
        if deleted == 1 {
            AccountToken::try_from(row).map(Some)
        } else {
            Ok(None)
        }
    }

    async fn mark_email_verified(
        &self,
        user_id: Uuid,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let db = self.writes.enter(&self.db).await?;
        let now = micros(now);
        let result = users::Entity::update_many()
            .col_expr(users::Column::EmailVerifiedAt, Expr::value(now))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(user_id))
            .filter(users::Column::Email.eq(email.as_str()))
            .exec(&db)
            .await
            .or_repo("Failed to mark e-mail verified")?;
        Ok(result.rows_affected == 1)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let db = self.writes.enter(&self.db).await?;
        let result = account_tokens::Entity::delete_many()
            .filter(account_tokens::Column::ExpiresAt.lt(micros(now)))
            .exec(&db)
            .await
            .or_repo("Failed to purge expired account tokens")?;
        Ok(result.rows_affected)
    }
}
