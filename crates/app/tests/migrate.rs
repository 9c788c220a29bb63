//! `strata migrate` as an operator runs it: the real binary, its subcommands
//! in sequence against one database, on SQLite and (when `TEST_POSTGRES_URL`
//! is set) PostgreSQL. After each step the test reads what `status` reports
//! and what the database's catalog holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::connect;

const BIN: &str = env!("CARGO_BIN_EXE_strata");

/// The tables each migration creates, in order (none for index-only ones).
const CREATES: &[&[&str]] = &[
    &["users"],
    &["sessions"],
    &["refresh_tokens"],
    &["revocations"],
    &["items"],
    &["posts"],
    &["comments"],
    &[],
    &[],
    &["jobs"],
    &["account_tokens"],
    &["notifications"],
    &["event_sequences", "ws_tickets"],
    &["user_identities", "oidc_pending_logins", "oidc_login_codes"],
    &["item_counts"],
    &[
        "catalog_version",
        "categories",
        "products",
        "orders",
        "order_items",
    ],
    &["idempotency_keys"],
    &["post_tags", "favorites", "follows", "profiles"],
];

/// Added by the fourteenth migration (`000015`: there is no `000012`);
/// whether they exist tells whether that migration is applied.
const OIDC_INDEXES: [&str; 2] = [
    "ux_user_identities_issuer_subject",
    "ux_oidc_pending_logins_state_hash",
];
/// How many migrations must be applied for [`OIDC_INDEXES`] to exist.
const OIDC_INDEXES_AFTER: usize = 14;

/// A database for one run of the sequence, removed when this value drops
/// (even when the test panicked).
struct TestDb {
    label: &'static str,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// SQLite always; PostgreSQL as well when `TEST_POSTGRES_URL` is set. A set
/// but unreachable PostgreSQL fails the test rather than skipping it.
async fn test_databases() -> Vec<TestDb> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("strata.db").display()
    );
    let mut dbs = vec![TestDb {
        label: "sqlite",
        url,
        cleanup: Cleanup::Sqlite(dir),
    }];
    if let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("strata_migrate_cli_{}_{nanos}", std::process::id());
        let admin = connect(&admin_url, 1)
            .await
            .unwrap_or_else(|err| panic!("TEST_POSTGRES_URL is set but unreachable: {err}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        admin.close().await.unwrap();
        dbs.push(TestDb {
            label: "postgres",
            url: with_database(&admin_url, &name),
            cleanup: Cleanup::Postgres { admin_url, name },
        });
    }
    dbs
}

/// `url` with its database path replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop cannot await, and the test's runtime may be shutting down: run
        // the best-effort DROP on a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = connect(&admin_url, 1).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

impl TestDb {
    /// Runs `strata migrate <args>` against this database and returns its
    /// standard output; a failure fails the test with the command's stderr.
    fn migrate(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_ENV", "test")
            .env(
                "APP_CONFIG_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config"),
            )
            .env("DATABASE_URL", &self.url)
            .arg("migrate")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: `strata migrate {}` failed: {}",
            self.label,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Checks, after `step`, that `status` reports the first `applied`
    /// migrations applied and the rest pending, and that the schema holds
    /// exactly what those migrations create.
    async fn assert_applied(&self, applied: usize, step: &str) {
        let context = format!("{} after `migrate {step}`", self.label);
        let expected: Vec<String> = Migrator::get_migration_files()
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let status = if i < applied { "Applied" } else { "Pending" };
                format!("{status} {}", m.name())
            })
            .collect();
        assert_eq!(status(&self.migrate(&["status"])), expected, "{context}");

        let db = connect(&self.url, 1).await.unwrap();
        let tables: BTreeSet<String> = CREATES[..applied]
            .iter()
            .copied()
            .flatten()
            .map(|t| (*t).to_owned())
            .collect();
        assert_eq!(catalog(&db, TABLES_SQL).await, tables, "{context}");
        let indexes = catalog(&db, INDEXES_SQL).await;
        for index in OIDC_INDEXES {
            assert_eq!(
                indexes.contains(index),
                applied >= OIDC_INDEXES_AFTER,
                "{context}: index {index}"
            );
        }
        db.close().await.unwrap();
    }

    async fn users(&self) -> i64 {
        let db = connect(&self.url, 1).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM users".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap();
        let n = row.try_get::<i64>("", "n").unwrap();
        db.close().await.unwrap();
        n
    }

    async fn insert_user(&self) {
        let db = connect(&self.url, 1).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO users (id, email, username, username_lower, password_hash, created_at, updated_at) \
             VALUES ('00000000-0000-0000-0000-00000000000a', 'a@example.com', 'alice', 'alice', 'h', \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )
        .await
        .unwrap();
        db.close().await.unwrap();
    }
}

/// `status` output as "<Status> <name>" lines, the padding collapsed.
fn status(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The application's tables, per backend (the migration bookkeeping table
/// and SQLite's internal ones left out).
const TABLES_SQL: [(DbBackend, &str); 2] = [
    (
        DbBackend::Sqlite,
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'",
    ),
    (
        DbBackend::Postgres,
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> 'seaql_migrations'",
    ),
];

const INDEXES_SQL: [(DbBackend, &str); 2] = [
    (
        DbBackend::Sqlite,
        "SELECT name FROM sqlite_master WHERE type = 'index'",
    ),
    (
        DbBackend::Postgres,
        "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = current_schema()",
    ),
];

/// The names the backend's catalog query returns.
async fn catalog(db: &DatabaseConnection, queries: [(DbBackend, &str); 2]) -> BTreeSet<String> {
    let backend = db.get_database_backend();
    let (_, sql) = queries
        .into_iter()
        .find(|(b, _)| *b == backend)
        .expect("a catalog query for this backend");
    db.query_all_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

/// Issue #11: `fresh` after `down` failed on SQLite with "no such table:
/// main.users" (after `up` alone too), and left a half-dropped schema
/// behind.
#[tokio::test]
async fn up_status_down_fresh_status_down_all_up_works_on_every_backend() {
    for db in test_databases().await {
        let all = Migrator::get_migration_files().len();

        assert_eq!(db.migrate(&["up"]).trim(), "migrations applied");
        db.assert_applied(all, "up").await;

        let listed = status(&db.migrate(&["status"]));
        assert_eq!(listed.len(), all, "{}", db.label);
        assert!(
            listed.iter().all(|l| l.starts_with("Applied ")),
            "{}: {listed:?}",
            db.label
        );

        assert_eq!(db.migrate(&["down"]).trim(), "reverted 1 migration(s)");
        db.assert_applied(all - 1, "down").await;

        // `fresh` rebuilds the schema from nothing: the row is gone.
        db.insert_user().await;
        assert_eq!(db.users().await, 1, "{}", db.label);
        assert_eq!(db.migrate(&["fresh"]).trim(), "schema recreated");
        db.assert_applied(all, "fresh").await;
        assert_eq!(db.users().await, 0, "{}: fresh keeps no data", db.label);
        // The SQLite failure depended on which pooled connection each DROP
        // TABLE happened to run on (it hit about every other `fresh`), so one
        // passing run proves little: a few more, each from a complete schema.
        for _ in 0..5 {
            assert_eq!(db.migrate(&["fresh"]).trim(), "schema recreated");
            db.assert_applied(all, "fresh").await;
        }

        let listed = status(&db.migrate(&["status"]));
        assert!(
            listed.len() == all && listed.iter().all(|l| l.starts_with("Applied ")),
            "{}: {listed:?}",
            db.label
        );

        // More steps than applied reverts every one, and says how many.
        assert_eq!(
            db.migrate(&["down", "--steps", "99"]).trim(),
            format!("reverted {all} migration(s)")
        );
        db.assert_applied(0, "down --steps 99").await;

        assert_eq!(db.migrate(&["up"]).trim(), "migrations applied");
        db.assert_applied(all, "up").await;
        assert_eq!(db.users().await, 0, "{}: the users table exists", db.label);
    }
}
