//! Write transactions that behave the same under contention on both backends.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use strata_domain::RepoError;

use crate::error::DbResultExt;

/// Begins a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that reads first
/// and writes later fails at once with `SQLITE_BUSY` when another connection
/// committed in between, bypassing the busy timeout; taking the write lock up
/// front makes writers queue instead. PostgreSQL ignores the mode.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, RepoError> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
    .or_repo("Failed to begin transaction")
}
