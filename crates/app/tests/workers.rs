//! `strata worker` processes against one PostgreSQL database, as an operator
//! runs them: two processes drain 2,000 jobs with none lost and none run
//! twice, and a worker killed with SIGKILL mid-import has its job finished
//! by another process without a duplicated item, and a database restart
//! mid-run loses no job and duplicates no effect. PostgreSQL only (several
//! processes on one SQLite file is not a supported deployment); skipped with
//! a note when `TEST_POSTGRES_URL` is unset, failed when it is unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use strata::Settings;
use strata_domain::files::{FileKey, FileStore};
use strata_domain::jobs::{JobRepository, NewJob};
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::{LocalFileStore, SeaJobRepository, connect};
use strata_service::{AuthService, Registration};

const BIN: &str = env!("CARGO_BIN_EXE_strata");

/// A fresh PostgreSQL database, dropped afterwards.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Option<Self> {
        Self::create_on("TEST_POSTGRES_URL").await
    }

    /// On the server `var` names.
    async fn create_on(var: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var(var) else {
            eprintln!("{var} is not set: the worker-process tests run in CI");
            return None;
        };
        let admin = connect(&admin_url, 1)
            .await
            .unwrap_or_else(|e| panic!("{var} is set but unreachable: {e}"));
        let name = format!("strata_workers_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let root = admin_url.rsplit_once('/').unwrap().0;
        let url = format!("{root}/{name}");
        let db = connect(&url, 2).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        Some(Self {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(admin) = connect(&admin_url, 1).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Kills the process when dropped, so a failed test leaves none behind.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(url: &str, files: &Path, concurrency: usize) -> Worker {
    worker_serving(url, files, concurrency, None)
}

/// A worker that also serves `/health` and `/metrics` on `metrics_port`.
fn worker_serving(
    url: &str,
    files: &Path,
    concurrency: usize,
    metrics_port: Option<u16>,
) -> Worker {
    let metrics_addr = metrics_port.map(|port| format!("127.0.0.1:{port}"));
    Worker(
        Command::new(BIN)
            .args(["worker", "--concurrency", &concurrency.to_string()])
            .args(
                metrics_addr
                    .iter()
                    .flat_map(|addr| ["--metrics-addr", addr.as_str()]),
            )
            .env("APP_ENV", "test")
            .env("APP__DATABASE__URL", url)
            .env("APP__DATABASE__AUTO_MIGRATE", "false")
            .env("APP__STORAGE__DIR", files)
            .env("APP__JOBS__LEASE_SECS", "3")
            .env("APP__MAIL__TRANSPORT", "log")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .env(
                "APP__LOG__LEVEL",
                std::env::var("WORKER_LOG").unwrap_or_else(|_| "error".into()),
            )
            .spawn()
            .unwrap(),
    )
}

async fn counts(db: &DatabaseConnection) -> HashMap<(String, i64), i64> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT status, CAST(attempts AS BIGINT) AS attempts, COUNT(*) AS n FROM jobs GROUP BY status, attempts",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("", "status").unwrap();
            let attempts: i64 = row.try_get("", "attempts").unwrap();
            let n: i64 = row.try_get("", "n").unwrap();
            ((status, attempts), n)
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on a worker's operations port: the status line and the body.
async fn get(port: u16, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// The value of the Prometheus sample named exactly `series` (0 if absent).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// An account, created as the application does, and an import job of `rows`
/// rows for it, queued: the job's id and the owner's.
async fn enqueue_import(
    database: &Database,
    db: &DatabaseConnection,
    files: &Path,
    rows: usize,
) -> (uuid::Uuid, uuid::Uuid) {
    let vars = HashMap::from([("APP__DATABASE__URL".to_owned(), database.url.clone())]);
    let settings = Settings::load_from(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config"),
        "test",
        &vars,
    )
    .unwrap();
    let services = strata::startup::services(&settings, db.clone())
        .await
        .unwrap();
    let owner = services
        .auth
        .create_account(
            Registration::parse("importer@example.com", "importer", "Secret123", None).unwrap(),
            strata_domain::users::Role::User,
        )
        .await
        .unwrap();
    let mut csv = String::from("title,description\n");
    for n in 0..rows {
        csv.push_str(&format!("Item {n},imported row {n}\n"));
    }
    let store = LocalFileStore::new(files.to_path_buf());
    let key = FileKey::parse("imports/items.csv").unwrap();
    store.put(&key, csv.into_bytes()).await.unwrap();
    let job = NewJob::new(
        "import_items",
        json!({"file": key.as_str(), "owner_id": owner.id}),
        5,
        Utc::now(),
    )
    .created_by(owner.id);
    let id = job.id;
    SeaJobRepository::new(db.clone())
        .enqueue(job)
        .await
        .unwrap();
    (id, owner.id)
}

async fn items_of(db: &DatabaseConnection, owner: uuid::Uuid) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM items WHERE owner_id = '{owner}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_worker_processes_drain_two_thousand_jobs_each_exactly_once() {
    let Some(database) = Database::create().await else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let db = connect(&database.url, 4).await.unwrap();
    let jobs = SeaJobRepository::new(db.clone());
    let ports = [free_port(), free_port()];
    let _a = worker_serving(&database.url, files.path(), 4, Some(ports[0]));
    let _b = worker_serving(&database.url, files.path(), 4, Some(ports[1]));
    // Enqueued while both already wait: claims race against each other and
    // against the wake-ups.
    for n in 0..2000 {
        let email = json!({"to": format!("u{n}@example.com"), "subject": "Hi", "text": "Hello"});
        jobs.enqueue(NewJob::new("send_email", email, 5, Utc::now()))
            .await
            .unwrap();
    }
    wait_for(
        "2,000 succeeded jobs",
        Duration::from_secs(180),
        async || counts(&db).await.get(&("succeeded".to_owned(), 1)).copied() == Some(2000),
    )
    .await;
    // Every job ran once: succeeded on its first attempt, nothing else.
    let counts = counts(&db).await;
    assert_eq!(counts.len(), 1, "{counts:?}");
    // Each process counts its own runs on its own `/metrics`; together,
    // exactly the 2,000.
    let mut runs = 0.0;
    for port in ports {
        let (status, _) = get(port, "/health").await;
        assert!(status.contains(" 200 "), "{status}");
        let (status, metrics) = get(port, "/metrics").await;
        assert!(status.contains(" 200 "), "{status}");
        runs += sample(
            &metrics,
            r#"strata_job_run_seconds_count{kind="send_email",outcome="succeeded"}"#,
        );
        assert!(metrics.contains("strata_db_pool_connections"), "{metrics}");
    }
    assert_eq!(runs, 2000.0);
}

#[tokio::test]
async fn a_worker_killed_mid_import_has_its_job_finished_by_another_without_duplicates() {
    let Some(database) = Database::create().await else {
        return;
    };
    const ROWS: usize = 60_000;
    let files = tempfile::tempdir().unwrap();
    let db = connect(&database.url, 4).await.unwrap();
    let jobs = Arc::new(SeaJobRepository::new(db.clone()));
    let (id, owner) = enqueue_import(&database, &db, files.path(), ROWS).await;

    let mut first = worker(&database.url, files.path(), 1);
    wait_for(
        "the import to be under way",
        Duration::from_secs(20),
        async || {
            let job = jobs.find(id).await.unwrap();
            assert!(
                !job.status.is_terminal(),
                "finished before the kill: {job:?}"
            );
            job.progress > 0 && job.progress < 90
        },
    )
    .await;
    first.0.kill().unwrap(); // SIGKILL: no shutdown, no release.
    first.0.wait().unwrap();
    let killed = jobs.find(id).await.unwrap();
    assert_eq!(killed.status.as_str(), "running", "{killed:?}");

    let _second = worker(&database.url, files.path(), 1);
    wait_for(
        "the import to finish",
        Duration::from_secs(120),
        async || jobs.find(id).await.unwrap().status.is_terminal(),
    )
    .await;
    let done = jobs.find(id).await.unwrap();
    assert_eq!(done.status.as_str(), "succeeded", "{done:?}");
    assert_eq!(done.attempts, 2, "reclaimed once after the lease expired");
    assert_eq!(done.result.as_ref().unwrap()["imported"], ROWS);
    let n = items_of(&db, owner).await;
    assert_eq!(n, ROWS as i64, "every row imported exactly once");
}

/// PostgreSQL restarted (`pg_ctlcluster … restart`) while two worker
/// processes drain mails and an import: every connection of every pool and
/// the LISTEN connections break mid-statement. Afterwards every job has
/// reached `succeeded` (the ones whose outcome was lost ran again after
/// their lease expired) and the import's rows exist exactly once. Runs on a
/// cluster of its own (`.ci/pg-restartable.sh`), never the shared one.
#[tokio::test]
async fn jobs_survive_a_database_restart_mid_run() {
    let Some(database) = Database::create_on("TEST_POSTGRES_RESTART_URL").await else {
        return;
    };
    let restart = std::env::var("TEST_POSTGRES_RESTART_CMD")
        .expect("TEST_POSTGRES_RESTART_CMD must be set with TEST_POSTGRES_RESTART_URL");
    const ROWS: usize = 40_000;
    const MAILS: usize = 1_500;
    let files = tempfile::tempdir().unwrap();
    let db = connect(&database.url, 4).await.unwrap();
    let jobs = SeaJobRepository::new(db.clone());
    let (import, owner) = enqueue_import(&database, &db, files.path(), ROWS).await;
    for n in 0..MAILS {
        let email = json!({"to": format!("u{n}@example.com"), "subject": "Hi", "text": "Hello"});
        jobs.enqueue(NewJob::new("send_email", email, 5, Utc::now()))
            .await
            .unwrap();
    }
    let _a = worker(&database.url, files.path(), 2);
    let _b = worker(&database.url, files.path(), 2);
    wait_for(
        "the import to be under way",
        Duration::from_secs(30),
        async || {
            let job = jobs.find(import).await.unwrap();
            assert!(
                !job.status.is_terminal(),
                "finished before the restart: {job:?}"
            );
            job.progress > 0
        },
    )
    .await;

    let status = Command::new("sh").args(["-c", &restart]).status().unwrap();
    assert!(status.success(), "{restart}: {status}");

    // This test's own pool lost its connections too: a failed read is retried.
    let total = (MAILS + 1) as i64;
    wait_for(
        "every job to succeed",
        Duration::from_secs(180),
        async || {
            let Ok(rows) = db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status",
                ))
                .await
            else {
                return false;
            };
            let by_status: HashMap<String, i64> = rows
                .iter()
                .map(|row| {
                    (
                        row.try_get("", "status").unwrap(),
                        row.try_get("", "n").unwrap(),
                    )
                })
                .collect();
            for bad in ["failed", "dead", "cancelled"] {
                assert_eq!(by_status.get(bad), None, "{by_status:?}");
            }
            // Only succeeded jobs left: the mails, the import and the account's
            // verification mail.
            by_status.len() == 1 && by_status.get("succeeded") >= Some(&total)
        },
    )
    .await;
    let done = jobs.find(import).await.unwrap();
    assert_eq!(done.result.as_ref().unwrap()["imported"], ROWS, "{done:?}");
    assert_eq!(
        items_of(&db, owner).await,
        ROWS as i64,
        "every row imported exactly once"
    );
}
