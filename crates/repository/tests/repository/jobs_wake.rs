//! Waking idle workers: in-process after an enqueue, and on PostgreSQL
//! across pools through LISTEN/NOTIFY.

use std::time::Duration as StdDuration;

use sea_orm::{ConnectionTrait, Statement};
use strata_domain::jobs::JobRepository;
use strata_repository::{DatabaseConnection, SeaJobRepository, connect};

use crate::common::{TestDb, now, test_databases};
use crate::jobs::{NEVER, PATIENCE, new_job};

/// A wait that returns before [`PATIENCE`] was woken: left alone it lasts
/// [`NEVER`].
fn woken(repo: SeaJobRepository) -> tokio::task::JoinHandle<bool> {
    tokio::spawn(async move {
        tokio::time::timeout(PATIENCE, repo.wait_for_jobs(NEVER))
            .await
            .is_ok()
    })
}

#[tokio::test]
async fn an_enqueue_wakes_a_waiting_worker_of_the_same_process() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let waiter = woken(repo.clone());
        repo.enqueue(new_job("a", now())).await.unwrap();
        assert!(waiter.await.unwrap(), "{}: not woken", db.backend);
    }
}

/// Two pools, two repositories, no shared memory: only PostgreSQL's NOTIFY
/// can carry the wake-up from one to the other. The listener survives losing
/// its connection, and ends with the repository.
#[tokio::test]
async fn on_postgres_an_enqueue_wakes_a_worker_on_another_pool() {
    for db in test_databases().await {
        if db.backend != "postgres" {
            continue;
        }
        let writer = SeaJobRepository::new(db.conn.clone());
        let other = connect(&db.url, 2).await.unwrap();
        let worker = SeaJobRepository::new(other.clone());
        // The first wait starts the listener; wait until it listens.
        worker.wait_for_jobs(StdDuration::from_millis(1)).await;
        let pid = eventually(&db.conn, LISTENER, |pids| pids.len() == 1, "never listened").await[0];

        let waiter = woken(worker.clone());
        writer.enqueue(new_job("a", now())).await.unwrap();
        assert!(waiter.await.unwrap(), "not woken through NOTIFY");

        // The connection killed: sqlx opens another at once.
        let pid = reconnected(&db, &writer, &worker, pid, false).await;
        // Killed while the server refuses connections, as while it restarts:
        // the listener keeps trying until it may connect again.
        let pid = reconnected(&db, &writer, &worker, pid, true).await;

        drop(worker);
        let same = format!("SELECT pid FROM pg_stat_activity WHERE pid = {pid}");
        eventually(&db.conn, &same, Vec::is_empty, "still connected").await;
        other.close().await.unwrap();
    }
}

/// The backend listening for job notifications.
const LISTENER: &str = "SELECT pid FROM pg_stat_activity \
                        WHERE datname = current_database() AND state = 'idle' \
                        AND query LIKE 'LISTEN \"strata_jobs\"%'";

/// Kills the listener's connection `pid` (with connections refused for a
/// while if `refuse`), then checks that a new connection listens, that the
/// worker is woken for what it may have missed, and that the next enqueue
/// reaches it. Returns the new connection's pid.
async fn reconnected(
    db: &TestDb,
    writer: &SeaJobRepository,
    worker: &SeaJobRepository,
    pid: i32,
    refuse: bool,
) -> i32 {
    // Refused from another database: no session may refuse its own.
    let admin = connect(&std::env::var("TEST_POSTGRES_URL").unwrap(), 1)
        .await
        .unwrap();
    let backend = db.conn.get_database_backend();
    let name: String = db
        .conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT current_database() AS name",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "name")
        .unwrap();
    let allow = |allowed: bool| format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {allowed}");
    if refuse {
        admin.execute_unprepared(&allow(false)).await.unwrap();
    }
    let kill = format!("SELECT pg_terminate_backend({pid})");
    db.conn.execute_unprepared(&kill).await.unwrap();
    if refuse {
        // Long enough for the reconnection to be refused at least once.
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        admin.execute_unprepared(&allow(true)).await.unwrap();
    }
    admin.close().await.unwrap();
    let again = |pids: &Vec<i32>| pids.len() == 1 && pids[0] != pid;
    let pid = eventually(&db.conn, LISTENER, again, "never listened again").await[0];
    let missed = worker.wait_for_jobs(NEVER);
    assert!(
        tokio::time::timeout(PATIENCE, missed).await.is_ok(),
        "not woken after reconnecting"
    );
    let waiter = woken(worker.clone());
    writer.enqueue(new_job("a", now())).await.unwrap();
    assert!(
        waiter.await.unwrap(),
        "not woken through NOTIFY after reconnecting"
    );
    pid
}

/// Runs `sql` (selecting `pid`s) until its answer satisfies `done`, for at
/// most [`PATIENCE`], and returns that answer.
async fn eventually(
    db: &DatabaseConnection,
    sql: &str,
    done: impl Fn(&Vec<i32>) -> bool,
    failure: &str,
) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let pids: Vec<i32> = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<i32>("", "pid").unwrap())
            .collect();
        if done(&pids) {
            return pids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{failure}: {pids:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}
