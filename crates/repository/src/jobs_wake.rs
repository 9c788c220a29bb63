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

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::Notify;

use crate::pg_listen::{self, Listener, Notice};
use crate::tx::{PerFile, per_file};

/// The channel the enqueue notifies and the listener listens on.
pub(crate) const CHANNEL: &str = "strata_jobs";

/// Idle workers' wake-up call, shared by every clone of a repository (and,
/// on SQLite, by every repository of this process on the same file).
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    /// Behind its own `Arc` so the listener task can hold it without keeping
    /// the [`Wakeup`] alive.
    notify: Arc<Notify>,
    /// Set once the PostgreSQL listener runs; dropping it (with the last
    /// repository) stops it.
    listener: Mutex<Option<Listener>>,
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
        let notify = Arc::clone(&self.notify);
        *running = pg_listen::listen(db, CHANNEL, move |notice| match notice {
            // Workers claim before they wait: nothing can have been missed yet.
            Notice::Listening { first: true } | Notice::Lost => {}
            // Notifications sent while no connection listened are lost:
            // after an outage, let the workers look for themselves.
            Notice::Listening { first: false } | Notice::Payload(_) => wake(&notify),
        });
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::Utc;
    use sea_orm::TransactionTrait;
    use strata_domain::jobs::{JobRepository, NewJob};
    use strata_migration::{Migrator, MigratorTrait};

    use super::*;
    use crate::jobs::{SeaJobRepository, enqueue_in};
    use crate::{connect, tx::WriteGate};

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
        let gate = WriteGate::of(&db);
        let txn = gate.begin(&db).await.unwrap();
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
