//! Per-test databases on every configured backend, and fixtures.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, Statement};
use strata_domain::RepoError;
use strata_domain::auth::{NewRefreshToken, NewSession};
use strata_domain::page::PageRequest;
use strata_domain::users::{Email, NewUser, PasswordHash, Role, User, UserRepository, Username};
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::{DatabaseConnection, SeaUserRepository, connect};
use strata_testing::TestDatabase;
use uuid::Uuid;

/// A migrated, empty database that is removed when this value drops (even
/// when the test body panicked).
pub struct TestDb {
    pub conn: DatabaseConnection,
    pub backend: &'static str,
    /// Where `conn` points, for tests that need a second pool.
    pub url: String,
    _database: TestDatabase,
}

/// SQLite always; PostgreSQL as well when `TEST_POSTGRES_URL` is set (see
/// `strata_testing`).
pub async fn test_databases() -> Vec<TestDb> {
    let mut dbs = Vec::new();
    for database in TestDatabase::each().await {
        let conn = connect(&database.url, 5).await.unwrap();
        Migrator::up(&conn, None).await.unwrap();
        dbs.push(TestDb {
            conn,
            backend: database.backend.name(),
            url: database.url.clone(),
            _database: database,
        });
    }
    dbs
}

pub fn sqlite_url(path: PathBuf) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Rows in `table` matching `condition` (raw SQL keeps the assertion
/// independent of the code under test).
pub async fn count(db: &DatabaseConnection, table: &str, condition: &str) -> i64 {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// A handle on `db` that counts the SQL statements run through it (and
/// only through it: the callback is set on this clone of the pool handle).
pub fn counting_statements(db: &DatabaseConnection) -> (DatabaseConnection, Arc<AtomicUsize>) {
    let statements = Arc::new(AtomicUsize::new(0));
    let mut counted = db.clone();
    let counter = Arc::clone(&statements);
    counted.set_metric_callback(move |_info| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (counted, statements)
}

/// Takes the count of statements seen so far and resets it.
pub fn take(statements: &AtomicUsize) -> usize {
    statements.swap(0, Ordering::SeqCst)
}

pub fn page(limit: i64, offset: i64) -> PageRequest {
    PageRequest::new(Some(limit), Some(offset)).unwrap()
}

/// Whether a repository call answered `NotFound`.
pub fn is_not_found<T>(result: Result<T, RepoError>) -> bool {
    matches!(result, Err(RepoError::NotFound))
}

/// Fails, naming the backend and the actual answer, unless `result` is
/// `NotFound`.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, RepoError>, backend: &str) {
    assert!(
        matches!(result, Err(RepoError::NotFound)),
        "{backend}: {result:?}"
    );
}

/// A fixed, microsecond-precise instant, so values round-trip exactly.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn new_user(email: &str, username: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: Email::parse(email).unwrap(),
        username: Username::parse(username).unwrap(),
        full_name: None,
        password_hash: PasswordHash::new("$2b$04$hash".into()),
        role: Role::User,
        created_at: now(),
        email_verified_at: None,
        verification: None,
    }
}

pub async fn create_user(db: &DatabaseConnection, email: &str, username: &str) -> User {
    SeaUserRepository::new(db.clone())
        .create(new_user(email, username))
        .await
        .unwrap()
}

pub fn new_session(user_id: Uuid, at: DateTime<Utc>) -> NewSession {
    NewSession {
        id: Uuid::now_v7(),
        user_id,
        created_at: at,
        expires_at: at + Duration::days(30),
    }
}

pub fn new_token(session_id: Uuid, at: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken {
        id: Uuid::now_v7(),
        session_id,
        token_hash: format!("hash-{}", Uuid::new_v4().simple()),
        created_at: at,
        expires_at: at + Duration::days(30),
    }
}
