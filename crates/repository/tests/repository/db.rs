use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use strata_domain::users::UserRepository;
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::{SeaUserRepository, connect};

use crate::common::{new_user, sqlite_url};

/// Reads `PRAGMA name` on `conn`, whatever type SQLite answers with.
async fn pragma(conn: &impl ConnectionTrait, name: &str) -> String {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(backend, format!("PRAGMA {name}")))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0)
        .map(|n| n.to_string())
        .or_else(|_| row.try_get_by_index::<String>(0))
        .unwrap()
}

#[tokio::test]
async fn connect_creates_the_missing_parent_directory_of_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("deeper").join("strata.db");
    let db = connect(&sqlite_url(path.clone()), 2).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn every_pooled_sqlite_connection_uses_wal_foreign_keys_and_a_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(&sqlite_url(dir.path().join("p.db")), 3)
        .await
        .unwrap();
    // Hold transactions open so the pragmas are read on distinct connections.
    let mut held = Vec::new();
    for _ in 0..3 {
        let txn = db.begin().await.unwrap();
        for (name, expected) in [
            ("journal_mode", "wal"),
            ("foreign_keys", "1"),
            ("busy_timeout", "5000"),
            ("synchronous", "2"),
        ] {
            assert_eq!(pragma(&txn, name).await, expected, "PRAGMA {name}");
        }
        held.push(txn);
    }
}

#[tokio::test]
async fn an_in_memory_sqlite_database_keeps_its_schema_across_calls() {
    let db = connect("sqlite::memory:", 10).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let repo = SeaUserRepository::new(db.clone());
    let user = repo
        .create(new_user("m@example.com", "memory"))
        .await
        .unwrap();
    assert_eq!(repo.find_by_id(user.id).await.unwrap(), user);
}
