//! Group commit: concurrent writes to one SQLite file share a transaction,
//! and so the one fsync that a commit costs with `synchronous = FULL`.
//!
//! A write queued with [`WriteGate::grouped`] waits in the gate's queue like
//! any other. Whoever gets the gate next runs every write queued by then
//! (up to [`MAX_GROUP`]) in one `BEGIN IMMEDIATE` transaction, each inside a
//! savepoint, commits once, and only then answers each writer. A write that
//! fails is rolled back to its savepoint and answered with its own error; the
//! others still commit. If the transaction itself fails (begin, a savepoint,
//! the commit), every write of the group fails and none is applied.
//! Durability is unchanged: no writer hears of success before the commit
//! that holds its write has returned.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, ExecResult, Statement,
    TransactionTrait,
};
use strata_domain::RepoError;
use tokio::sync::oneshot;

use super::{Gate, WriteGate, WriteGuard, begin_write};
use crate::db::WAIT;
use crate::error::DbResultExt;

/// The statements of one write, run inside the transaction they are given.
pub(crate) type WriteFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, RepoError>> + Send + 'c>>;

/// Writes per shared transaction: enough to cover every connection of a
/// busy server, few enough that one group holds the file only briefly.
const MAX_GROUP: usize = 64;

/// Writes waiting for the next holder of the gate, oldest first.
#[derive(Default)]
pub(crate) struct Queue(Mutex<Pending>);

#[derive(Default)]
struct Pending {
    next_id: u64,
    writes: VecDeque<Box<dyn Queued>>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Queue")
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, make: impl FnOnce(u64) -> Box<dyn Queued>) -> u64 {
        let mut pending = self.lock();
        let id = pending.next_id;
        pending.next_id += 1;
        pending.writes.push_back(make(id));
        id
    }

    /// The next group, if the oldest pending write is at most `upto`.
    fn next_group(&self, upto: u64) -> Vec<Box<dyn Queued>> {
        let mut pending = self.lock();
        if pending.writes.front().is_none_or(|w| w.id() > upto) {
            return Vec::new();
        }
        let n = pending.writes.len().min(MAX_GROUP);
        pending.writes.drain(..n).collect()
    }

    /// Takes write `id` back if no holder of the gate has taken it yet.
    fn withdraw(&self, id: u64) -> bool {
        let mut pending = self.lock();
        let before = pending.writes.len();
        pending.writes.retain(|w| w.id() != id);
        pending.writes.len() < before
    }
}

/// A queued write, its result type erased so that any writes share a group.
trait Queued: Send {
    fn id(&self) -> u64;
    /// Runs the write in `txn`, keeps its result, and says whether it
    /// succeeded.
    fn run<'a>(
        &'a mut self,
        txn: &'a DatabaseTransaction,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
    /// Answers the writer: its own result once the group committed, the
    /// group's failure otherwise.
    fn answer(self: Box<Self>, group: Result<(), &Arc<RepoError>>);
}

struct Job<T, F> {
    id: u64,
    write: Option<F>,
    result: Option<Result<T, RepoError>>,
    reply: oneshot::Sender<Result<T, RepoError>>,
}

impl<T, F> Queued for Job<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn run<'a>(
        &'a mut self,
        txn: &'a DatabaseTransaction,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let Some(write) = self.write.take() else {
                return false;
            };
            let result = write(txn).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn answer(self: Box<Self>, group: Result<(), &Arc<RepoError>>) {
        let result = match (group, self.result) {
            (Ok(()), Some(result)) | (Err(_), Some(result @ Err(_))) => result,
            (Err(group), _) => Err(shared(group)),
            (Ok(()), None) => Err(RepoError::unexpected(
                "Failed to run a grouped write",
                "the group committed without running it",
            )),
        };
        // The writer may have gone (its client disconnected); the write
        // stands all the same, like any write whose answer is lost.
        let _ = self.reply.send(result);
    }
}

impl WriteGate {
    /// Runs `write` in a transaction shared with the writes queued beside it
    /// (see the module documentation), and returns its result once that
    /// transaction has committed. Without a gate (PostgreSQL, one
    /// connection) the write gets a transaction of its own.
    ///
    /// `write` must not take the gate itself, nor begin or commit the
    /// transaction it is given (nested transactions are savepoints and fine).
    ///
    /// # Errors
    /// The write's own error; [`RepoError::Unavailable`] when the writes
    /// ahead took longer than the busy timeout; the group's error when its
    /// transaction could not begin or commit.
    pub(crate) async fn grouped<T, F>(
        &self,
        db: &DatabaseConnection,
        write: F,
    ) -> Result<T, RepoError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + 'static,
    {
        let Some(gate) = self.gate() else {
            let txn = begin_write(db).await?;
            let value = write(&txn).await?;
            txn.commit().await.or_repo("Failed to commit")?;
            return Ok(value);
        };
        let (reply, answer) = oneshot::channel();
        let id = gate.pending.push(|id| {
            Box::new(Job {
                id,
                write: Some(write),
                result: None,
                reply,
            })
        });
        // The group runs in a task of its own so that a writer whose client
        // goes away mid-group cannot take the other writers' group with it.
        let led = tokio::spawn(lead(Arc::clone(gate), db.clone(), id)).await;
        if gate.pending.withdraw(id) {
            // Nobody took it: the gate stayed busy past the busy timeout.
            return Err(match led {
                Ok(Err(timeout)) => timeout,
                _ => RepoError::unexpected("Failed to run a grouped write", "it was never run"),
            });
        }
        answer.await.unwrap_or_else(|_| {
            Err(RepoError::unexpected(
                "Failed to run a grouped write",
                "the group ended without an answer",
            ))
        })
    }
}

impl WriteGate {
    /// One statement, the commonest write. Without a gate it commits by
    /// itself, with no BEGIN and COMMIT round trips around it; with a gate it
    /// joins a group like any write (see [`grouped`](Self::grouped)).
    ///
    /// # Errors
    /// The statement's failure, labelled with `context`; otherwise as for
    /// `grouped`.
    pub(crate) async fn execute(
        &self,
        db: &DatabaseConnection,
        statement: Statement,
        context: &'static str,
    ) -> Result<ExecResult, RepoError> {
        if self.gate().is_none() {
            return db.execute_raw(statement).await.or_repo(context);
        }
        self.grouped(db, move |txn| {
            Box::pin(async move { txn.execute_raw(statement).await.or_repo(context) })
        })
        .await
    }
}

/// Waits for the gate, then runs groups until write `upto` has run.
async fn lead(gate: Arc<Gate>, db: DatabaseConnection, upto: u64) -> Result<(), RepoError> {
    let guard: WriteGuard<'_> = gate.enter_within(WAIT).await?;
    loop {
        let group = gate.pending.next_group(upto);
        if group.is_empty() {
            break;
        }
        run_group(&gate, &db, group).await;
    }
    // Each group was counted as it ended.
    guard.nothing_written();
    Ok(())
}

async fn run_group(gate: &Gate, db: &DatabaseConnection, mut group: Vec<Box<dyn Queued>>) {
    let outcome = match begin_write(db).await {
        Ok(txn) => run_in(txn, &mut group).await,
        Err(err) => Err(err),
    };
    // Counted before any writer hears back: a writer that lists right
    // after its answer must not be served a total cached before its write.
    gate.count_write();
    let outcome = outcome.map_err(Arc::new);
    for write in group {
        write.answer(outcome.as_ref().map(|_| ()));
    }
}

/// Runs every write of `group` in `txn` and commits. A write alone needs
/// no savepoint: if it fails, the whole transaction is rolled back.
async fn run_in(txn: DatabaseTransaction, group: &mut [Box<dyn Queued>]) -> Result<(), RepoError> {
    if let [alone] = group {
        if alone.run(&txn).await {
            txn.commit().await.or_repo("Failed to commit")?;
        } else {
            txn.rollback().await.or_repo("Failed to roll back")?;
        }
        return Ok(());
    }
    for write in group.iter_mut() {
        let savepoint = txn.begin().await.or_repo("Failed to open a savepoint")?;
        if write.run(&savepoint).await {
            savepoint
                .commit()
                .await
                .or_repo("Failed to release a savepoint")?;
        } else {
            savepoint
                .rollback()
                .await
                .or_repo("Failed to roll back to a savepoint")?;
        }
    }
    txn.commit()
        .await
        .or_repo("Failed to commit a group of writes")
}

/// The group's failure, handed to each of its writers with its kind kept
/// (an outage stays a 503).
fn shared(group: &Arc<RepoError>) -> RepoError {
    let source = Box::new(Shared(Arc::clone(group)));
    match **group {
        RepoError::Unavailable(_) => RepoError::Unavailable(source),
        _ => RepoError::unexpected(
            "Failed to commit a group of writes",
            source as Box<dyn StdError + Send + Sync>,
        ),
    }
}

#[derive(Debug)]
struct Shared(Arc<RepoError>);

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the shared transaction failed: {}", self.0)
    }
}

impl StdError for Shared {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sea_orm::{ConnectionTrait, Statement};

    use super::*;
    use crate::connect;

    async fn file_db(dir: &tempfile::TempDir) -> DatabaseConnection {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let db = connect(&url, 4).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db
    }

    /// Inserts `id`, and then fails if `fail` (after its insert, so the
    /// insert must be undone).
    fn insert(
        id: i64,
        fail: bool,
    ) -> impl for<'c> FnOnce(&'c DatabaseTransaction) -> WriteFuture<'c, i64> + Send + 'static {
        move |txn| {
            Box::pin(async move {
                txn.execute_raw(Statement::from_sql_and_values(
                    txn.get_database_backend(),
                    "INSERT INTO t (id) VALUES (?)",
                    [id.into()],
                ))
                .await
                .or_repo("Failed to insert")?;
                if fail {
                    return Err(RepoError::VersionMismatch);
                }
                Ok(id)
            })
        }
    }

    async fn ids(db: &DatabaseConnection) -> Vec<i64> {
        db.query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM t ORDER BY id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect()
    }

    #[tokio::test]
    async fn concurrent_writes_commit_once_and_a_failing_one_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let gate = WriteGate::of(&db);
        let before = gate.writes_finished().unwrap();

        // Write 7 fails after its insert, write 3's id is taken by write 0.
        let writes = (0..20).map(|n| {
            let id = if n == 3 { 0 } else { n };
            gate.grouped(&db, insert(id, n == 7))
        });
        let results = futures_util::future::join_all(writes).await;

        assert!(
            matches!(results[3], Err(RepoError::Conflict(_))),
            "{:?}",
            results[3]
        );
        assert!(matches!(results[7], Err(RepoError::VersionMismatch)));
        let expected: Vec<i64> = (0..20).filter(|n| ![3, 7].contains(n)).collect();
        for n in &expected {
            assert_eq!(results[*n as usize].as_ref().unwrap(), n);
        }
        assert_eq!(ids(&db).await, expected);
        // All twenty were queued before the first holder of the gate ran:
        // one transaction, one commit.
        assert_eq!(gate.writes_finished().unwrap() - before, 1);
    }

    #[tokio::test]
    async fn a_write_alone_that_fails_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let gate = WriteGate::of(&db);
        let failed = gate.grouped(&db, insert(1, true)).await;
        assert!(matches!(failed, Err(RepoError::VersionMismatch)));
        assert_eq!(gate.grouped(&db, insert(2, false)).await.unwrap(), 2);
        assert_eq!(ids(&db).await, vec![2]);
    }

    #[tokio::test]
    async fn a_write_queued_past_the_busy_timeout_is_withdrawn_and_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let gate = WriteGate::of(&db);
        let held = gate.enter(&db).await.unwrap();
        tokio::time::pause();
        let queued = gate.grouped(&db, insert(1, false)).await;
        assert!(
            matches!(queued, Err(RepoError::Unavailable(_))),
            "{queued:?}"
        );
        tokio::time::resume();
        drop(held);
        assert_eq!(gate.grouped(&db, insert(2, false)).await.unwrap(), 2);
        assert_eq!(ids(&db).await, vec![2]);
    }

    #[tokio::test]
    async fn without_a_gate_a_write_has_a_transaction_of_its_own() {
        let db = connect("sqlite::memory:", 1).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let gate = WriteGate::of(&db);
        assert!(gate.grouped(&db, insert(1, true)).await.is_err());
        assert_eq!(gate.grouped(&db, insert(2, false)).await.unwrap(), 2);
        assert_eq!(ids(&db).await, vec![2]);
    }
}
