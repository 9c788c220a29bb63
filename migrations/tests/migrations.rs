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

/// Migrations in all.
const MIGRATIONS: usize = CREATES.len();

/// Indexes on `users` added by the ninth migration (each filter of the admin
/// list with its default order); it replaces the single-column ones.
const ADMIN_INDEXES: [&str; 2] = ["ix_users_role_created", "ix_users_is_active_created"];
/// How many migrations must be applied for [`ADMIN_INDEXES`] to exist.
const ADMIN_INDEXES_AFTER: usize = 9;

/// The tables the first `applied` migrations create.
fn tables_after(applied: usize) -> Vec<&'static str> {
    CREATES[..applied]
        .iter()
        .copied()
        .flatten()
        .copied()
        .collect()
}

/// A database under test, plus what must be cleaned up after it.
struct TestDb {
    conn: DatabaseConnection,
    url: String,
    label: &'static str,
    _dir: Option<tempfile::TempDir>,
    drop_pg: Option<(String, String)>,
}

async fn test_databases() -> Vec<TestDb> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let mut dbs = vec![TestDb {
        conn: Database::connect(&url).await.unwrap(),
        url,
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
            url,
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
    for table in tables_after(MIGRATIONS) {
        if manager.has_table(table).await.unwrap() {
            found.push(table);
        }
    }
    found
}

/// Whether each of [`ADMIN_INDEXES`] exists, in order.
async fn admin_indexes(db: &DatabaseConnection) -> Vec<bool> {
    let manager = SchemaManager::new(db);
    let mut found = Vec::new();
    for index in ADMIN_INDEXES {
        found.push(manager.has_index("users", index).await.unwrap());
    }
    found
}

#[tokio::test]
async fn up_creates_every_table_and_marks_all_migrations_applied() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        assert_eq!(
            existing_tables(&db.conn).await,
            tables_after(MIGRATIONS),
            "{}",
            db.label
        );
        assert_eq!(admin_indexes(&db.conn).await, [true, true], "{}", db.label);
        let statuses = Migrator::get_migration_with_status(&db.conn).await.unwrap();
        assert_eq!(statuses.len(), MIGRATIONS);
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
        assert_eq!(
            existing_tables(&db.conn).await,
            tables_after(MIGRATIONS),
            "{}",
            db.label
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn each_migration_reverts_one_step_at_a_time() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        for remaining in (0..MIGRATIONS).rev() {
            Migrator::down(&db.conn, Some(1)).await.unwrap();
            assert_eq!(
                existing_tables(&db.conn).await,
                tables_after(remaining),
                "{} after reverting to {remaining} migrations",
                db.label
            );
            if remaining > 0 {
                // Only the ninth migration adds them; reverting it drops them.
                let expected = remaining >= ADMIN_INDEXES_AFTER;
                assert_eq!(
                    admin_indexes(&db.conn).await,
                    [expected, expected],
                    "{}",
                    db.label
                );
            }
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn status_on_an_empty_database_reports_everything_pending() {
    for db in test_databases().await {
        Migrator::status(&db.conn).await.unwrap();
        let statuses = Migrator::get_migration_with_status(&db.conn).await.unwrap();
        assert_eq!(statuses.len(), MIGRATIONS);
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
        assert_eq!(
            existing_tables(&db.conn).await,
            tables_after(MIGRATIONS),
            "{}",
            db.label
        );
        db.cleanup().await;
    }
}

/// With every table in place (`comments` referencing both `posts` and
/// `users`), and on the single connection `fresh` needs on SQLite: its
/// `PRAGMA foreign_keys = OFF` holds only on the connection it ran on.
#[tokio::test]
async fn fresh_on_one_connection_rebuilds_a_complete_schema() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        let mut options = quick(&db.url);
        options.max_connections(1);
        let single = Database::connect(options).await.unwrap();
        Migrator::fresh(&single).await.unwrap();
        single.close().await.unwrap();
        assert_eq!(
            existing_tables(&db.conn).await,
            tables_after(MIGRATIONS),
            "{}",
            db.label
        );
        assert_eq!(admin_indexes(&db.conn).await, [true, true], "{}", db.label);
        let statuses = Migrator::get_migration_with_status(&db.conn).await.unwrap();
        assert!(
            statuses
                .iter()
                .all(|m| m.status() == MigrationStatus::Applied),
            "{}",
            db.label
        );
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

#[tokio::test]
async fn deleting_a_user_cascades_to_items_posts_comments_and_jobs_and_versions_start_at_1() {
    for db in test_databases().await {
        Migrator::up(&db.conn, None).await.unwrap();
        let backend = db.conn.get_database_backend();
        let run = |sql: String| {
            let conn = &db.conn;
            async move {
                conn.execute_raw(Statement::from_string(backend, sql))
                    .await
                    .unwrap()
            }
        };
        let count = |table: &'static str| {
            let conn = &db.conn;
            async move {
                conn.query_one_raw(Statement::from_string(
                    backend,
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap()
            }
        };
        let alice = "00000000-0000-0000-0000-00000000000a";
        let bob = "00000000-0000-0000-0000-00000000000b";
        for (id, name) in [(alice, "alice"), (bob, "bob")] {
            run(format!(
                "INSERT INTO users (id, email, username, username_lower, password_hash, created_at, updated_at) \
                 VALUES ('{id}', '{name}@example.com', '{name}', '{name}', 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))
            .await;
        }
        run(format!(
            "INSERT INTO items (id, owner_id, title, created_at, updated_at) \
             VALUES ('00000000-0000-0000-0000-0000000000e1', '{alice}', 'milk', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))
        .await;
        let version = db
            .conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT version FROM items".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "version")
            .unwrap();
        assert_eq!(version, 1, "{}", db.label);

        // Alice's post with Bob's comment, Bob's post with Alice's comment.
        let (alice_post, bob_post) = (
            "00000000-0000-0000-0000-0000000000a1",
            "00000000-0000-0000-0000-0000000000b1",
        );
        for (post, author) in [(alice_post, alice), (bob_post, bob)] {
            run(format!(
                "INSERT INTO posts (id, author_id, title, body, created_at, updated_at) \
                 VALUES ('{post}', '{author}', 't', 'b', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))
            .await;
        }
        // Numbered per post (unique under it).
        for (id, post, author, number) in [
            ("00000000-0000-0000-0000-0000000000c1", alice_post, bob, 1),
            ("00000000-0000-0000-0000-0000000000c2", bob_post, alice, 1),
            ("00000000-0000-0000-0000-0000000000c3", bob_post, bob, 2),
        ] {
            run(format!(
                "INSERT INTO comments (id, post_id, author_id, body, created_at, number) \
                 VALUES ('{id}', '{post}', '{author}', 'c', CURRENT_TIMESTAMP, {number})"
            ))
            .await;
        }

        // Alice's job, Bob's job, and a scheduled job of nobody's.
        for (id, creator) in [
            ("00000000-0000-0000-0000-0000000000d1", format!("'{alice}'")),
            ("00000000-0000-0000-0000-0000000000d2", format!("'{bob}'")),
            ("00000000-0000-0000-0000-0000000000d3", "NULL".to_owned()),
        ] {
            run(format!(
                "INSERT INTO jobs (id, kind, payload, status, max_attempts, run_at, created_by, created_at, updated_at) \
                 VALUES ('{id}', 'export', '{{}}', 'queued', 3, CURRENT_TIMESTAMP, {creator}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))
            .await;
        }

        run(format!("DELETE FROM users WHERE id = '{alice}'")).await;

        assert_eq!(count("items").await, 0, "{}", db.label);
        assert_eq!(count("posts").await, 1, "{}", db.label);
        // Only Bob's own comment on Bob's post is left.
        assert_eq!(count("comments").await, 1, "{}", db.label);
        assert_eq!(count("jobs").await, 2, "{}", db.label);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_eleventh_migration_adds_and_removes_email_verified_at() {
    for db in test_databases().await {
        let manager = SchemaManager::new(&db.conn);
        Migrator::up(&db.conn, None).await.unwrap();
        assert!(
            manager
                .has_column("users", "email_verified_at")
                .await
                .unwrap(),
            "{}",
            db.label
        );
        // Back to the tenth: the eleventh and every later one reverted.
        let after_eleventh = u32::try_from(MIGRATIONS - 10).unwrap();
        Migrator::down(&db.conn, Some(after_eleventh))
            .await
            .unwrap();
        assert!(
            !manager
                .has_column("users", "email_verified_at")
                .await
                .unwrap(),
            "{}",
            db.label
        );
        assert!(!manager.has_table("account_tokens").await.unwrap());
        Migrator::up(&db.conn, None).await.unwrap();
        assert!(manager.has_table("account_tokens").await.unwrap());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_realtime_migration_numbers_rows_and_reverts_cleanly() {
    for db in test_databases().await {
        let manager = SchemaManager::new(&db.conn);
        Migrator::up(&db.conn, None).await.unwrap();
        for (table, column) in [("notifications", "seq"), ("jobs", "event_seq")] {
            assert!(
                manager.has_column(table, column).await.unwrap(),
                "{} {table}.{column}",
                db.label
            );
        }
        // Back to the twelfth: the thirteenth and every later one reverted.
        let after_thirteenth = u32::try_from(MIGRATIONS - 12).unwrap();
        Migrator::down(&db.conn, Some(after_thirteenth))
            .await
            .unwrap();
        for (table, column) in [("notifications", "seq"), ("jobs", "event_seq")] {
            assert!(
                !manager.has_column(table, column).await.unwrap(),
                "{} {table}.{column}",
                db.label
            );
        }
        assert!(!manager.has_table("ws_tickets").await.unwrap());
        Migrator::up(&db.conn, None).await.unwrap();
        assert!(manager.has_table("event_sequences").await.unwrap());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_blog_migration_names_existing_posts_and_numbers_their_comments_in_order() {
    for db in test_databases().await {
        // Up to the blog's migration, wherever later ones (a scaffolded
        // resource's) put it in the list.
        let blog = CREATES
            .iter()
            .position(|tables| tables.contains(&"post_tags"))
            .unwrap();
        Migrator::up(&db.conn, Some(u32::try_from(blog).unwrap()))
            .await
            .unwrap();
        let backend = db.conn.get_database_backend();
        let run = |sql: String| {
            let conn = &db.conn;
            async move {
                conn.execute_raw(Statement::from_string(backend, sql))
                    .await
                    .unwrap()
            }
        };
        let ann = "00000000-0000-0000-0000-00000000000a";
        let post = "00000000-0000-0000-0000-0000000000f1";
        let other = "00000000-0000-0000-0000-0000000000f2";
        run(format!(
            "INSERT INTO users (id, email, username, username_lower, password_hash, created_at, updated_at) \
             VALUES ('{ann}', 'ann@example.com', 'ann', 'ann', 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))
        .await;
        for id in [post, other] {
            run(format!(
                "INSERT INTO posts (id, author_id, title, body, created_at, updated_at) \
                 VALUES ('{id}', '{ann}', 'T', 'B', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))
            .await;
        }
        // Inserted out of order; two share an instant (ties go by id).
        for (id, at) in [
            (
                "00000000-0000-0000-0000-0000000000c3",
                "2026-01-01 00:00:03+00",
            ),
            (
                "00000000-0000-0000-0000-0000000000c1",
                "2026-01-01 00:00:01+00",
            ),
            (
                "00000000-0000-0000-0000-0000000000c4",
                "2026-01-01 00:00:03+00",
            ),
        ] {
            run(format!(
                "INSERT INTO comments (id, post_id, author_id, body, created_at) \
                 VALUES ('{id}', '{post}', '{ann}', 'x', '{at}')"
            ))
            .await;
        }
        Migrator::up(&db.conn, None).await.unwrap();

        let rows = db
            .conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT CAST(id AS TEXT) AS id, number FROM comments ORDER BY number".to_owned(),
            ))
            .await
            .unwrap();
        let numbered: Vec<(String, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get::<String>("", "id").unwrap(),
                    r.try_get::<i64>("", "number").unwrap(),
                )
            })
            .collect();
        let ends: Vec<(&str, i64)> = numbered
            .iter()
            .map(|(id, n)| (&id[id.len() - 2..], *n))
            .collect();
        assert_eq!(ends, [("c1", 1), ("c3", 2), ("c4", 3)], "{}", db.label);

        let posts = db
            .conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT slug, comments_made FROM posts ORDER BY slug".to_owned(),
            ))
            .await
            .unwrap();
        let named: Vec<(String, i64)> = posts
            .iter()
            .map(|r| {
                (
                    r.try_get::<String>("", "slug").unwrap(),
                    r.try_get::<i64>("", "comments_made").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            named,
            [
                ("000000000000000000000000000000f1".to_owned(), 3),
                ("000000000000000000000000000000f2".to_owned(), 0),
            ],
            "{}",
            db.label
        );
        db.cleanup().await;
    }
}
