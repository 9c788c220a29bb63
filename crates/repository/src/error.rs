//! The single translation of sea-orm failures into the domain's
//! [`RepoError`], so every adapter classifies the same failure the same way.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use strata_domain::{RepoError, UniqueField};

/// Classifies `err`; `context` ("Failed to insert user") labels failures that
/// are neither a known constraint nor an outage.
pub(crate) fn map_db_err(context: &'static str, err: DbErr) -> RepoError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            return RepoError::Conflict(unique_field(&message));
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => return RepoError::NotFound,
        _ => {}
    }
    if is_unavailable(&err) {
        RepoError::Unavailable(Box::new(err))
    } else {
        RepoError::unexpected(context, err)
    }
}

/// Constraint and index names (`ux_users_email`, `ux_users_username_lower`)
/// and SQLite's `users.email` column reference both surface in the driver
/// message; that is the only portable way to tell which rule broke.
fn unique_field(message: &str) -> UniqueField {
    if message.contains("email") {
        UniqueField::Email
    } else if message.contains("username") {
        UniqueField::Username
    } else if message.contains("slug") {
        UniqueField::Slug
    } else {
        UniqueField::Other
    }
}

/// Failures a retry later could cure: no connection, a dropped connection, a
/// server shutting down, or SQLite's write lock still held after the busy
/// timeout. Callers answer these with 503 rather than 500.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;

    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            match &**inner {
                SqlxError::Io(_)
                | SqlxError::Tls(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed => true,
                SqlxError::Database(db) => db.code().is_some_and(|code| {
                    // SQLite: SQLITE_BUSY (5) and its extended codes, SQLITE_LOCKED (6).
                    // PostgreSQL: class 08 (connection exception), 53300
                    // (too many connections), 57P0x (server shutting down).
                    matches!(&*code, "5" | "6" | "261" | "262" | "517" | "773" | "53300")
                        || code.starts_with("08")
                        || code.starts_with("57P0")
                }),
                _ => false,
            }
        }
        _ => false,
    }
}

/// `?`-friendly form of [`map_db_err`].
pub(crate) trait DbResultExt<T> {
    fn or_repo(self, context: &'static str) -> Result<T, RepoError>;
}

impl<T> DbResultExt<T> for Result<T, DbErr> {
    fn or_repo(self, context: &'static str) -> Result<T, RepoError> {
        self.map_err(|err| map_db_err(context, err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_of_both_backends_name_the_field() {
        for (message, field) in [
            ("UNIQUE constraint failed: users.email", UniqueField::Email),
            (
                "duplicate key value violates unique constraint \"ux_users_email\"",
                UniqueField::Email,
            ),
            (
                "UNIQUE constraint failed: users.username_lower",
                UniqueField::Username,
            ),
            (
                "duplicate key value violates unique constraint \"ux_users_username_lower\"",
                UniqueField::Username,
            ),
            (
                "UNIQUE constraint failed: refresh_tokens.token_hash",
                UniqueField::Other,
            ),
        ] {
            assert_eq!(unique_field(message), field, "{message}");
        }
    }

    #[test]
    fn pool_timeout_is_unavailable_and_other_errors_are_unexpected() {
        let timeout = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout);
        assert!(matches!(
            map_db_err("Failed to test", timeout),
            RepoError::Unavailable(_)
        ));
        let other = DbErr::Custom("boom".into());
        assert!(matches!(
            map_db_err("Failed to test", other),
            RepoError::Unexpected {
                context: "Failed to test",
                ..
            }
        ));
    }
}
