//! Writes that behave the same under contention on both backends.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use strata_domain::RepoError;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

use crate::db::WAIT;
use crate::error::DbResultExt;
use crate::group::Queue;

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

/// Queues this process's writes to one SQLite file in arrival order.
///
/// SQLite allows one writer at a time. Without the gate, pooled connections
/// that want to write wait in SQLite's busy handler, which sleeps in growing
/// steps of up to 100 ms and lets whoever retries first win: under 32
/// concurrent writers the p99 of an insert was 0.8 s for a 7.6 ms median.
/// Waiting on a FIFO lock instead, the p99 fell to 25 ms, with throughput
/// within 10 % (bench/README.md). Reads take no part: WAL lets them run beside
/// the writer. Other processes writing to the same file still meet the busy
/// timeout, as before; PostgreSQL, and a single-connection pool, need no gate.
/// A writer waits in the queue no longer than it would have waited for the
/// lock itself, then fails as unavailable (503).
///
/// The gate also counts the writes that passed through it, so that what was
/// read from the file can be known unchanged since (see `counts.rs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteGate(Option<Arc<Gate>>);

#[derive(Debug, Default)]
pub(crate) struct Gate {
    queue: AsyncMutex<()>,
    /// Writes finished (committed, failed or abandoned) through this gate.
    finished: AtomicU64,
    /// Writes waiting to be committed as a group (see `group.rs`).
    pub(crate) pending: Queue,
}

/// A place in the write queue, held until the write is over.
#[derive(Debug)]
pub(crate) struct WriteGuard<'a> {
    _queue: MutexGuard<'a, ()>,
    /// `None` once known that nothing was written.
    finished: Option<&'a AtomicU64>,
}

impl WriteGuard<'_> {
    /// Leaves the queue without counting a write: the holder counted what
    /// it wrote as it went (see `count_write`), or wrote nothing.
    pub(crate) fn nothing_written(mut self) {
        self.finished = None;
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // Counted only once the write is over: a total counted under the new
        // number has seen this write, and one counted under the old number
        // is known to be possibly stale.
        if let Some(finished) = self.finished {
            finished.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Gate {
    /// Records a finished write (see `writes_finished`).
    pub(crate) fn count_write(&self) {
        self.finished.fetch_add(1, Ordering::AcqRel);
    }

    /// A place in the queue, once the writes ahead have finished.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] after `wait`.
    pub(crate) async fn enter_within(&self, wait: Duration) -> Result<WriteGuard<'_>, RepoError> {
        match tokio::time::timeout(wait, self.queue.lock()).await {
            Ok(queue) => Ok(WriteGuard {
                _queue: queue,
                finished: Some(&self.finished),
            }),
            Err(elapsed) => Err(RepoError::Unavailable(Box::new(WriteQueueTimeout(elapsed)))),
        }
    }
}

impl WriteGate {
    /// The gate of `db`'s database file, shared by every repository (and
    /// every pool) of this process that writes to it.
    pub(crate) fn of(db: &DatabaseConnection) -> Self {
        Self(shared_file(db).map(shared_gate))
    }

    /// Waits for this process's earlier writes to the file to finish. Hold
    /// the guard until the write (or its transaction) has committed.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the writes ahead took longer than the
    /// busy timeout.
    pub(crate) async fn enter(&self) -> Result<Option<WriteGuard<'_>>, RepoError> {
        self.enter_within(WAIT).await
    }

    async fn enter_within(&self, wait: Duration) -> Result<Option<WriteGuard<'_>>, RepoError> {
        let Some(gate) = &self.0 else {
            return Ok(None);
        };
        gate.enter_within(wait).await.map(Some)
    }

    /// The shared gate; `None` where writes need none.
    pub(crate) fn gate(&self) -> Option<&Arc<Gate>> {
        self.0.as_ref()
    }

    /// How many writes have finished through the gate; `None` without one.
    /// Read it before reading the database: if it is unchanged later, this
    /// process has not written to the file in between.
    pub(crate) fn writes_finished(&self) -> Option<u64> {
        self.0
            .as_ref()
            .map(|gate| gate.finished.load(Ordering::Acquire))
    }
}

/// The writes ahead in the queue did not finish within the busy timeout.
#[derive(Debug, thiserror::Error)]
#[error("waited too long behind other writes to the database file")]
struct WriteQueueTimeout(#[source] tokio::time::error::Elapsed);

/// One gate per file; an entry is dropped with the last repository using it,
/// so opening many databases (as the tests do) leaves nothing behind.
fn shared_gate(file: PathBuf) -> Arc<Gate> {
    static GATES: PerFile<Gate> = Mutex::new(Vec::new());
    per_file(&GATES, file)
}

/// The SQLite file behind `db` when its pool has more than one connection:
/// the key of what this process shares per file (its write gate, the
/// catalog version it knows). `None` on PostgreSQL and for a one-connection
/// pool, whose writes are already serialised by the connection.
pub(crate) fn shared_file(db: &DatabaseConnection) -> Option<PathBuf> {
    // The pool accessor panics on the other backends, so check first.
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let pool = db.get_sqlite_connection_pool();
    (pool.options().get_max_connections() > 1)
        .then(|| pool.connect_options().get_filename().to_path_buf())
}

/// A registry of values shared per database file, held weakly.
pub(crate) type PerFile<T> = Mutex<Vec<(PathBuf, Weak<T>)>>;

/// The value of `registry` for `file`, created if no live one exists. Dead
/// entries are swept on every call, so the registry stays as small as the
/// number of files in use.
pub(crate) fn per_file<T: Default>(registry: &PerFile<T>, file: PathBuf) -> Arc<T> {
    let mut entries = registry.lock().unwrap_or_else(PoisonError::into_inner);
    entries.retain(|(_, value)| value.strong_count() > 0);
    if let Some(value) = entries
        .iter()
        .find(|(path, _)| *path == file)
        .and_then(|(_, value)| value.upgrade())
    {
        return value;
    }
    let value = Arc::new(T::default());
    entries.push((file, Arc::downgrade(&value)));
    value
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::connect;

    fn gate(db: &DatabaseConnection) -> Option<Arc<Gate>> {
        WriteGate::of(db).0
    }

    #[tokio::test]
    async fn pools_on_one_file_share_one_gate_and_other_files_have_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
        let first = connect(&url("a.db"), 4).await.unwrap();
        let second = connect(&url("a.db"), 4).await.unwrap();
        let other = connect(&url("b.db"), 4).await.unwrap();

        let (a, b, c) = (
            gate(&first).unwrap(),
            gate(&second).unwrap(),
            gate(&other).unwrap(),
        );
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));

        // Held by one repository, the gate makes the other one wait.
        let held = WriteGate::of(&first);
        let guard = held.enter().await.unwrap();
        assert!(guard.is_some());
        assert!(b.queue.try_lock().is_err());
        assert_eq!(WriteGate::of(&second).writes_finished(), Some(0));
        drop(guard);
        assert!(b.queue.try_lock().is_ok());
        // The other pool sees the write as finished.
        assert_eq!(WriteGate::of(&second).writes_finished(), Some(1));
    }

    #[tokio::test]
    async fn a_single_connection_needs_no_gate() {
        let memory = connect("sqlite::memory:", 4).await.unwrap();
        assert!(gate(&memory).is_none());
        assert!(WriteGate::of(&memory).enter().await.unwrap().is_none());
        assert_eq!(WriteGate::of(&memory).writes_finished(), None);
    }

    #[tokio::test]
    async fn a_writer_queued_too_long_fails_as_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("q.db").display());
        let db = connect(&url, 4).await.unwrap();
        let (holder, waiter) = (WriteGate::of(&db), WriteGate::of(&db));
        let held = holder.enter().await.unwrap();
        assert!(held.is_some());
        let queued = waiter.enter_within(Duration::from_millis(20)).await;
        assert!(
            matches!(queued, Err(RepoError::Unavailable(_))),
            "{queued:?}"
        );
        drop(held);
        assert!(waiter.enter().await.unwrap().is_some());
    }
}
