//! Writes that behave the same under contention on both backends.
//!
//! Every write goes through a [`WriteGate`], in one of three ways, and
//! there is no other: [`WriteGate::execute`] (one statement) and
//! [`WriteGate::grouped`] (a few statements in a transaction), which join a
//! group commit on SQLite (see [`group`]); or [`WriteGate::enter`], a
//! [`Writer`] holding this process's place in the write queue, for
//! statements that must run alone, and [`Writer::begin`], a [`WriteTxn`]
//! that owns that place until it commits or is dropped. `BEGIN IMMEDIATE`
//! is private to this module, so a new write method cannot open a write
//! transaction that forgets the gate.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use strata_domain::RepoError;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

use crate::db::WAIT;
use crate::error::DbResultExt;

pub(crate) mod group;

use group::Queue;

/// Begins a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that reads first
/// and writes later fails at once with `SQLITE_BUSY` when another connection
/// committed in between, bypassing the busy timeout; taking the write lock up
/// front makes writers queue instead. PostgreSQL ignores the mode.
async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, RepoError> {
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

    /// Waits for this process's earlier writes to the file to finish, and
    /// answers the right to write to `db` until the [`Writer`] is dropped.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the writes ahead took longer than the
    /// busy timeout.
    pub(crate) async fn enter<'a>(
        &'a self,
        db: &'a DatabaseConnection,
    ) -> Result<Writer<'a>, RepoError> {
        Ok(Writer {
            db,
            _place: self.enter_within(WAIT).await?,
        })
    }

    /// [`enter`](Self::enter), then [`Writer::begin`].
    ///
    /// # Errors
    /// As both.
    pub(crate) async fn begin<'a>(
        &'a self,
        db: &'a DatabaseConnection,
    ) -> Result<WriteTxn<'a>, RepoError> {
        self.enter(db).await?.begin().await
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

/// The right to write to a database: this process's place in its write
/// queue, held until dropped. Statements run on it commit one by one.
pub(crate) struct Writer<'a> {
    db: &'a DatabaseConnection,
    _place: Option<WriteGuard<'a>>,
}

impl<'a> Writer<'a> {
    /// A write transaction (`BEGIN IMMEDIATE` on SQLite, see [`begin_write`])
    /// that keeps this writer's place until it commits or is dropped.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] or a storage failure to begin.
    pub(crate) async fn begin(self) -> Result<WriteTxn<'a>, RepoError> {
        Ok(WriteTxn {
            txn: begin_write(self.db).await?,
            _place: self._place,
        })
    }
}

/// A write transaction that owns its place in the write queue. Fields drop
/// in order: an abandoned transaction rolls back before the place is freed.
pub(crate) struct WriteTxn<'a> {
    txn: DatabaseTransaction,
    _place: Option<WriteGuard<'a>>,
}

impl WriteTxn<'_> {
    /// Commits, then frees the place in the queue.
    ///
    /// # Errors
    /// The commit's failure (nothing is written).
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        let WriteTxn { txn, _place } = self;
        txn.commit().await
    }

    /// Rolls back, then frees the place in the queue.
    ///
    /// # Errors
    /// The rollback's failure.
    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        let WriteTxn { txn, _place } = self;
        txn.rollback().await
    }
}

/// Savepoints (`txn.begin()`) and anything else that needs the transaction
/// itself.
impl std::ops::Deref for WriteTxn<'_> {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Statements run on a [`Writer`] or a [`WriteTxn`] as on what they wrap.
macro_rules! delegate_connection {
    ($type:ident, $field:tt) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $type<'_> {
            fn get_database_backend(&self) -> DbBackend {
                self.$field.get_database_backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                self.$field.execute_raw(stmt).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                self.$field.execute_unprepared(sql).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                self.$field.query_one_raw(stmt).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                self.$field.query_all_raw(stmt).await
            }
        }
    };
}

delegate_connection!(Writer, db);
delegate_connection!(WriteTxn, txn);

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WriteTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn").finish_non_exhaustive()
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
        let guard = held.enter(&first).await.unwrap();
        assert!(guard._place.is_some());
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
        assert!(
            WriteGate::of(&memory)
                .enter(&memory)
                .await
                .unwrap()
                ._place
                .is_none()
        );
        assert_eq!(WriteGate::of(&memory).writes_finished(), None);
    }

    #[tokio::test]
    async fn a_writer_queued_too_long_fails_as_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("q.db").display());
        let db = connect(&url, 4).await.unwrap();
        let (holder, waiter) = (WriteGate::of(&db), WriteGate::of(&db));
        let held = holder.enter(&db).await.unwrap();
        assert!(held._place.is_some());
        let queued = waiter.enter_within(Duration::from_millis(20)).await;
        assert!(
            matches!(queued, Err(RepoError::Unavailable(_))),
            "{queued:?}"
        );
        drop(held);
        assert!(waiter.enter(&db).await.unwrap()._place.is_some());
    }
}
