//! Waking idle workers when a job is enqueued.
//!
//! Workers poll on an interval as a fallback, and wait between polls on a
//! [`Wakeup`]. An enqueue in this process wakes it after its commit. On
//! PostgreSQL the enqueue's transaction also sends `NOTIFY strata_jobs`, and
//! one background task per repository listens on that channel and forwards
//! each notification to the same [`Wakeup`], so workers of every instance
//! wake, however far from the writer they run.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{Notify, oneshot};

use crate::db::WAIT;
use crate::tx::{PerFile, per_file};

/// The channel the enqueue notifies and the listener listens on.
pub(crate) const CHANNEL: &str = "strata_jobs";

/// How long the listener waits before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Idle workers' wake-up call, shared by every clone of a repository (and,
/// on SQLite, by every repository of this process on the same file).
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    /// Behind its own `Arc` so the listener task can hold it without keeping
    /// the [`Wakeup`] alive.
    notify: Arc<Notify>,
    /// Set once the PostgreSQL listener runs; dropping the sender (with the
    /// last repository) stops it.
    listener: Mutex<Option<oneshot::Sender<()>>>,
}

impl Wakeup {
    /// The wake-up of `db`: on SQLite the one of its file, which other
    /// repositories' transactional enqueues also reach (see [`committed`]);
    /// on PostgreSQL a new one, since `NOTIFY` reaches every listener there.
    pub(crate) fn of(db: &DatabaseConnection) -> Arc<Self> {
        static WAKEUPS: PerFile<Wakeup> = Mutex::new(Vec::new());
        match sqlite_file(db) {
            Some(file) => per_file(&WAKEUPS, file),
            None => Arc::default(),
        }
    }

    /// Wakes every waiting worker, or, when none waits, the next one to
    /// wait: a job enqueued between a worker's empty claim and its wait must
    /// not leave it asleep until the poll interval.
    pub(crate) fn wake(&self) {
        wake(&self.notify);
    }

    /// Resolves on the next [`Wakeup::wake`] (or a permit left by one), or
    /// after `max`. On PostgreSQL it first makes sure the listener runs.
    pub(crate) async fn wait(&self, db: &DatabaseConnection, max: Duration) {
        self.listen(db);
        let _ = tokio::time::timeout(max, self.notify.notified()).await;
    }

    /// Starts the PostgreSQL listener unless it runs already (or the backend
    /// is another one). Called from async code only, so a runtime exists.
    fn listen(&self, db: &DatabaseConnection) {
        if db.get_database_backend() != DbBackend::Postgres {
            return;
        }
        let mut running = self.listener.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_some() {
            return;
        }
        let (stop, stopped) = oneshot::channel();
        *running = Some(stop);
        let pool = listener_pool(db.get_postgres_connection_pool());
        tokio::spawn(forward(pool, Arc::clone(&self.notify), stopped));
    }
}

/// Wakes the workers of `db` after a transaction that enqueued through
/// [`crate::jobs::enqueue_in`] committed. On PostgreSQL the transaction's
/// `NOTIFY` already does it (the listener of this process hears it too).
pub(crate) fn committed(db: &DatabaseConnection) {
    if sqlite_file(db).is_some() {
        Wakeup::of(db).wake();
    }
}

fn wake(notify: &Notify) {
    // With a waiter, `notify_one` wakes it and stores nothing, and
    // `notify_waiters` wakes the others; without one, `notify_one` leaves
    // the permit that the next wait takes at once.
    notify.notify_one();
    notify.notify_waiters();
}

fn sqlite_file(db: &DatabaseConnection) -> Option<PathBuf> {
    // The pool accessor panics on the other backends, so check first.
    (db.get_database_backend() == DbBackend::Sqlite).then(|| {
        db.get_sqlite_connection_pool()
            .connect_options()
            .get_filename()
            .to_path_buf()
    })
}

/// A pool of one connection, to the main pool's server with its settings,
/// for the listener alone.
///
/// `PgListener` keeps the connection it takes for as long as it lives, and
/// takes it from the pool it is given: from the application's pool that
/// would be one connection fewer for requests, for good (and with a pool of
/// one, none). Its own pool also gives it what it needs to reconnect after
/// the server restarts. The connection is opened on first use and never
/// recycled for age or idleness: a listener is idle by nature.
fn listener_pool(main: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(WAIT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*main.connect_options()).clone())
}

/// Forwards `NOTIFY strata_jobs` to `notify` until `stop` resolves (its
/// sender dropped with the last repository), then closes the pool.
async fn forward(pool: PgPool, notify: Arc<Notify>, mut stop: oneshot::Receiver<()>) {
    listen_until(&pool, &notify, &mut stop).await;
    // Bounded: a connection to a vanished server must not keep the task.
    let _ = tokio::time::timeout(WAIT, pool.close()).await;
}

/// Listens, reconnecting after every failure, until `stop` resolves.
async fn listen_until(pool: &PgPool, notify: &Notify, stop: &mut oneshot::Receiver<()>) {
    // Until the first failure: no notification can have been missed yet.
    let mut first = true;
    loop {
        let listening = tokio::select! {
            _ = &mut *stop => return,
            listening = subscribe(pool) => listening,
        };
        match listening {
            Ok(mut listener) => {
                // Notifications sent while no connection listened are lost:
                // after an outage, let the workers look for themselves. (The
                // first time, they have just looked: a worker claims before
                // it waits.)
                if !first {
                    wake(notify);
                }
                loop {
                    let received = tokio::select! {
                        _ = &mut *stop => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(_)) => wake(notify),
                        // The connection dropped and was opened again (the
                        // channel listened to anew): some may have been missed.
                        Ok(None) => wake(notify),
                        Err(err) => {
                            tracing::warn!(error = %err, "job notifications lost; listening again");
                            break;
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for job notifications; retrying");
            }
        }
        first = false;
        tokio::select! {
            _ = &mut *stop => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::Utc;
    use sea_orm::TransactionTrait;
    use strata_domain::jobs::{JobRepository, NewJob};
    use strata_migration::{Migrator, MigratorTrait};

    use super::*;
    use crate::jobs::{SeaJobRepository, enqueue_in};
    use crate::{connect, tx::begin_write};

    /// Long enough never to be reached in a passing test.
    const NEVER: Duration = Duration::from_secs(30);
    const PATIENCE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_wake_with_nobody_waiting_is_kept_for_the_next_wait() {
        let wakeup = Wakeup::default();
        let db = connect("sqlite::memory:", 1).await.unwrap();
        wakeup.wake();
        tokio::time::timeout(PATIENCE, wakeup.wait(&db, NEVER))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_enqueue_in_a_business_transaction_wakes_workers_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("j.db").display());
        let db = connect(&url, 4).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let repo = SeaJobRepository::new(db.clone());
        let waiting = tokio::spawn({
            let repo = repo.clone();
            async move { tokio::time::timeout(PATIENCE, repo.wait_for_jobs(NEVER)).await }
        });
        // A transaction that is rolled back leaves no job behind.
        let job = NewJob::new("export", serde_json::json!({}), 3, Utc::now());
        let txn = begin_write(&db).await.unwrap();
        assert!(enqueue_in(&txn, &job).await.unwrap());
        txn.rollback().await.unwrap();
        assert!(repo.find(job.id).await.is_err());

        let txn = db.begin().await.unwrap();
        assert!(enqueue_in(&txn, &job).await.unwrap());
        txn.commit().await.unwrap();
        // Another pool on the same file reaches the same waiters.
        committed(&connect(&url, 2).await.unwrap());
        assert!(waiting.await.unwrap().is_ok(), "the worker was not woken");
        assert_eq!(repo.find(job.id).await.unwrap().kind, "export");
    }
}
