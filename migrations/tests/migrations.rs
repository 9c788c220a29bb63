//! The migrations must apply, revert completely and re-apply, on SQLite and
//! (when `TEST_POSTGRES_URL` is set) on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::time::Duration;

use sea_orm_migration::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement,
};
use sea_orm_migration::{MigrationStatus, MigratorTrait, SchemaManager};
use strata_migration::Migrator;

const TABLES: [&str; 4] = ["users", "sessions", "refresh_tokens", "revocations"];

/// A database under test, plus what must be cleaned up after it.
struct TestDb {
    conn: DatabaseConnection,
    label: &'static str,
    _dir: Option<tempfile::TempDir>,
    drop_pg: Option<(String, String)>,
}

async fn test_databases() -> Vec<TestDb> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let mut dbs = vec![TestDb {
        conn: Database::connect(url).await.unwrap(),
        label: "sqlite",
        _dir: Some(dir),
        drop_pg: None,
    }];
    if let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!(
            "strata_mig_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let admin = Database::connect(quick(&admin_url))
            .await
            .expect("TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let url = replace_db_name(&admin_url, &name);
        dbs.push(TestDb {
            conn: Database::connect(quick(&url)).await.unwrap(),
            label: "postgres",
            _dir: None,
            drop_pg: Some((admin_url, name)),
        });
    }
    dbs
}

/// Fails fast (instead of sqlx's 30 s default) when the server is down.
fn quick(url: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    options
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && !base[..i].ends_with('/') => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    async fn cleanup(self) {
        let _ = self.conn.close().await;
        if let Some((admin_url, name)) = self.drop_pg
            && let Ok(admin) = Database::connect(quick(&admin_url)).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

async fn existing_tables(db: &DatabaseConnection) -> Vec<&'static str> {
    let manager = SchemaManager::new(db);
    let mut found = Vec::new();
    for table in TABLES {
        if manager.has_table(table).await.unwrap() {
            found.push(table);
        }
    }
    found
}

#[tokio::test]
async fn up_creates_every_table_and_marks_all_migrations_applied() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        assert_eq!(existing_tables(&db.conn).await, TABLES, "{}", db.label);
        let statuses = Migrator::get_migration_with_status(&db.conn).await.unwrap();
        assert_eq!(statuses.len(), 4);
        assert!(
            statuses
                .iter()
                .all(|m| m.status() == MigrationStatus::Applied)
        );
        Migrator::status(&db.conn).await.unwrap();
        db.cleanup().await;
    }
}

#[tokio::test]
async fn down_to_zero_removes_every_table_and_up_works_again() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        Migrator::down(&db.conn, None).await.unwrap();
        assert!(existing_tables(&db.conn).await.is_empty(), "{}", db.label);
        let statuses = Migrator::get_migration_with_status(&db.conn).await.unwrap();
        assert!(
            statuses
                .iter()
                .all(|m| m.status() == MigrationStatus::Pending)
        );

        Migrator::up(&db.conn, None).await.unwrap();
        assert_eq!(existing_tables(&db.conn).await, TABLES, "{}", db.label);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn each_migration_reverts_one_step_at_a_time() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        for remaining in (0..TABLES.len()).rev() {
            Migrator::down(&db.conn, Some(1)).await.unwrap();
            assert_eq!(
                existing_tables(&db.conn).await,
                TABLES[..remaining],
                "{}",
                db.label
            );
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn status_on_an_empty_database_reports_everything_pending() {
    for db in test_databases().await {
        Migrator::status(&db.conn).await.unwrap();
        let statuses = Migrator::get_migration_with_status(&db.conn).await.unwrap();
        assert_eq!(statuses.len(), 4);
        assert!(
            statuses
                .iter()
                .all(|m| m.status() == MigrationStatus::Pending)
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn fresh_rebuilds_the_schema_from_scratch() {
    for db in test_databases().await {
        Migrator::up(&db.conn, Some(2)).await.unwrap();
        Migrator::fresh(&db.conn).await.unwrap();
        assert_eq!(existing_tables(&db.conn).await, TABLES, "{}", db.label);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn schema_enforces_unique_email_and_applies_defaults() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        let backend = db.conn.get_database_backend();
        let user = |id: &str, email: &str, name: &str| {
            Statement::from_string(
                backend,
                format!(
                    "INSERT INTO users (id, email, username, username_lower, password_hash, created_at, updated_at) \
                     VALUES ('{id}', '{email}', '{name}', '{name}', 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
            )
        };
        let a = "00000000-0000-0000-0000-00000000000a";
        let b = "00000000-0000-0000-0000-00000000000b";
        db.conn
            .execute_raw(user(a, "a@example.com", "alice"))
            .await
            .unwrap();
        let err = db
            .conn
            .execute_raw(user(b, "a@example.com", "bob"))
            .await
            .unwrap_err();
        let message = err.sql_err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("email"), "{}: {message}", db.label);

        // Defaults apply.
        let row = db
            .conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT role, is_active FROM users WHERE id = '{a}'"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "role").unwrap(), "user");
        assert!(row.try_get::<bool>("", "is_active").unwrap());

        db.cleanup().await;
    }
}
