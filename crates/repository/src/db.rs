//! Opening the connection pool with the settings the rest of the crate relies
//! on.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database};

pub use sea_orm::{DatabaseConnection, DbErr};

/// How long a caller waits for a pooled connection (or, on SQLite, for the
/// write lock) before the request fails as unavailable instead of hanging.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// Opens a pool to `url` (`sqlite:` or `postgres:`) of at most
/// `max_connections` connections.
///
/// On SQLite every pooled connection is configured the same way: foreign keys
/// on (account deletion relies on `ON DELETE CASCADE`), WAL so readers do not
/// block the writer, a busy timeout so concurrent writers queue instead of
/// failing, a `REGEXP` function for searches that fold case beyond ASCII,
/// and `synchronous = FULL`: a write that answered 2xx must survive power
/// loss, not only a crash of the process (which `NORMAL` would cover). A file
/// database's parent directory is created so the default
/// `sqlite://data/strata.db?mode=rwc` works on a first run. An in-memory
/// database lives only as long as its connections (and, without a shared
/// cache, exists once per connection), so its pool is pinned to a single,
/// never-recycled connection.
///
/// # Errors
/// The [`DbErr`] of an unparsable URL, a directory that cannot be created, or
/// a database that cannot be reached.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections.max(1))
        .acquire_timeout(WAIT)
        .connect_timeout(WAIT)
        // Pinging on every checkout doubles the round trips of a hot pool;
        // only connections idle long enough to have been dropped by a server,
        // proxy or firewall are worth checking.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        // Statements are already recorded in tracing spans; logging each one
        // again through `log` at INFO would flood the application log.
        .sqlx_logging(false);

    if url.starts_with("sqlite:") {
        if is_sqlite_memory(url) {
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
            options.map_sqlx_sqlite_opts(every_sqlite_connection);
        } else {
            ensure_parent_dir(url)?;
            options.map_sqlx_sqlite_opts(|opts| {
                every_sqlite_connection(opts)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
            });
        }
    }

    Database::connect(options).await
}

/// What every SQLite connection needs, in memory or on disk: the foreign
/// keys, the busy timeout and the `REGEXP` function the searches use.
fn every_sqlite_connection(opts: SqliteConnectOptions) -> SqliteConnectOptions {
    opts.foreign_keys(true).busy_timeout(WAIT).with_regexp()
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn ensure_parent_dir(url: &str) -> Result<(), DbErr> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|err| DbErr::Custom(format!("Invalid SQLite URL '{url}': {err}")))?;
    let Some(parent) = opts.get_filename().parent() else {
        return Ok(());
    };
    if parent.as_os_str().is_empty() || Path::exists(parent) {
        return Ok(());
    }
    std::fs::create_dir_all(parent).map_err(|err| {
        DbErr::Custom(format!(
            "Failed to create database directory {}: {err}",
            parent.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_sqlite_memory("sqlite::memory:"));
        assert!(is_sqlite_memory("sqlite://file.db?mode=memory"));
        assert!(!is_sqlite_memory("sqlite://data/strata.db?mode=rwc"));
    }
}

/// Connection-pool occupancy, for the metrics gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or in use.
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// The pool's current occupancy (`None` for a backend without a pool).
pub fn pool_stats(db: &DatabaseConnection) -> Option<PoolStats> {
    // Each accessor panics on the other backend, so dispatch on the backend first.
    let (open, idle, max) = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => return None,
    };
    Some(PoolStats {
        open,
        idle: u32::try_from(idle).unwrap_or(u32::MAX),
        max,
    })
}
