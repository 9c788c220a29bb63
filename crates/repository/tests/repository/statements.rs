//! No statement is compiled again per request on SQLite: a cached prepared
//! statement keeps its plan whatever values are bound to it (the bundled
//! SQLite is built with `SQLITE_ENABLE_QPSG`, see `.cargo/config.toml`).
//! `sqlite_stmt` (`SQLITE_ENABLE_STMTVTAB`) counts, per prepared statement of
//! the connection, how often it ran and how often it was prepared again.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use strata_domain::items::{ItemFilter, ItemRepository, NewItem, Title};
use strata_domain::page::Sort;
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::{SeaItemRepository, connect};
use uuid::Uuid;

use crate::common::{create_user, now, page, sqlite_url};

/// (sql, runs, re-prepares) of this connection's statements that mention `table`.
async fn statements(db: &DatabaseConnection, table: &str) -> Vec<(String, i64, i64)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT sql, run, reprep FROM sqlite_stmt",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.try_get::<String>("", "sql").unwrap(),
                row.try_get::<i64>("", "run").unwrap(),
                row.try_get::<i64>("", "reprep").unwrap(),
            )
        })
        .filter(|(sql, _, _)| sql.contains(&format!("\"{table}\"")))
        .collect()
}

#[tokio::test]
async fn cached_statements_are_never_prepared_again_whatever_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    // One connection: `sqlite_stmt` shows the statements of the connection
    // that asks, so every call below must run on it.
    let db = connect(&sqlite_url(dir.path().join("test.db")), 1)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let owner = create_user(&db, "ann@example.com", "ann").await;
    let items = SeaItemRepository::new(db.clone());
    let mut ids = Vec::new();
    for n in 0..30 {
        let item = items
            .create(NewItem {
                id: Uuid::now_v7(),
                title: Title::parse(&format!("item {n}")).unwrap(),
                description: None,
                owner_id: owner.id,
                created_at: now(),
            })
            .await
            .unwrap();
        ids.push(item.id);
    }
    for (n, id) in ids.iter().enumerate() {
        items.find(*id).await.unwrap();
        let filter = ItemFilter {
            owner_id: Some(owner.id),
            q: (n % 2 == 0).then(|| format!("item {}", n % 7)),
        };
        let limit = i64::try_from(n % 5).unwrap() + 1;
        let offset = i64::try_from(n).unwrap();
        items
            .list(filter, Sort::default(), page(limit, offset))
            .await
            .unwrap();
    }

    let seen = statements(&db, "items").await;
    let busy: Vec<_> = seen.iter().filter(|(_, run, _)| *run >= 10).collect();
    assert!(
        !busy.is_empty(),
        "the statements were not cached, or sqlite_stmt sees another connection: {seen:?}"
    );
    for (sql, run, reprep) in busy {
        assert_eq!(
            *reprep, 0,
            "prepared again {reprep} times in {run} runs: {sql}"
        );
    }
}
