//! `strata backup`: an online, consistent copy of a SQLite database.

use std::path::Path;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

/// Why no copy was made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backups of PostgreSQL are made with its own tools (pg_dump, or a base backup with WAL archiving); see docs/operations.md"
    )]
    NotSqlite,
    #[error("{0} already exists; choose a new file (a backup never overwrites)")]
    Exists(String),
    #[error("the target path is not valid UTF-8")]
    BadPath,
    #[error("the copy failed: {0}")]
    Failed(#[from] sea_orm::DbErr),
}

/// Writes a consistent copy of the SQLite database behind `db` to `to` with
/// `VACUUM INTO`, while the server keeps serving: the copy is one read
/// transaction's snapshot, compacted, and never a torn file (unlike copying
/// the database file, whose `-wal` holds the latest commits).
///
/// # Errors
/// [`BackupError::NotSqlite`] on PostgreSQL, [`BackupError::Exists`] when
/// `to` exists, [`BackupError::Failed`] when SQLite refuses (no space, no
/// such directory).
pub async fn backup(db: &DatabaseConnection, to: &Path) -> Result<(), BackupError> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Err(BackupError::NotSqlite);
    }
    let target = to.to_str().ok_or(BackupError::BadPath)?;
    if to.exists() {
        return Err(BackupError::Exists(target.to_owned()));
    }
    // A string literal, quotes doubled: VACUUM INTO takes no bound parameter
    // on every SQLite version.
    let literal = target.replace('\'', "''");
    db.execute_unprepared(&format!("VACUUM INTO '{literal}'"))
        .await?;
    Ok(())
}
