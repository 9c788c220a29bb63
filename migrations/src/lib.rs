//! Strata's schema as a sequence of reversible migrations.
//!
//! Migrations are written with sea-query's schema builder rather than SQL
//! strings so that one definition produces correct DDL for both SQLite and
//! PostgreSQL. Constraint and index names are part of the contract: the
//! repository recognises unique violations by the column names (`email`,
//! `username`) that appear in them.

mod m20261121_000001_create_users;
mod m20261121_000002_create_sessions;
mod m20261121_000003_create_refresh_tokens;
mod m20261121_000004_create_revocations;
mod m20261122_000005_create_items;
mod m20261122_000006_create_posts;
mod m20261122_000007_create_comments;
mod m20261122_000008_index_users_for_admin_lists;
mod m20261205_000009_index_lists_in_sort_order;
mod m20261205_000010_create_jobs;
mod m20261205_000011_create_account_tokens;
mod m20261205_000013_create_notifications;
mod m20261206_000014_create_realtime;
mod m20261206_000015_create_oidc;
mod m20261206_000016_count_items_per_owner;
mod m20261206_000017_create_catalog_and_orders;
mod m20261206_000018_create_idempotency_keys;
mod m20261207_000019_create_follows_favorites_and_tags;

pub use sea_orm_migration::{DbErr, Migration, MigrationStatus, MigratorTrait};

use sea_orm_migration::MigrationTrait;

/// Applies, reverts and reports Strata's migrations (`Migrator::up(&db, None)`,
/// `down`, `status`, `fresh`, `get_migration_with_status`).
///
/// On SQLite, give `fresh` a pool of one connection: it turns foreign keys off
/// with `PRAGMA foreign_keys = OFF`, which holds only on the connection it ran
/// on, and its `DROP TABLE`s fail on a connection where they are still on
/// (`strata migrate` runs on one connection for this reason).
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_users::Migration),
            Box::new(m20261121_000002_create_sessions::Migration),
            Box::new(m20261121_000003_create_refresh_tokens::Migration),
            Box::new(m20261121_000004_create_revocations::Migration),
            Box::new(m20261122_000005_create_items::Migration),
            Box::new(m20261122_000006_create_posts::Migration),
            Box::new(m20261122_000007_create_comments::Migration),
            Box::new(m20261122_000008_index_users_for_admin_lists::Migration),
            Box::new(m20261205_000009_index_lists_in_sort_order::Migration),
            Box::new(m20261205_000010_create_jobs::Migration),
            Box::new(m20261205_000011_create_account_tokens::Migration),
            Box::new(m20261205_000013_create_notifications::Migration),
            Box::new(m20261206_000014_create_realtime::Migration),
            Box::new(m20261206_000015_create_oidc::Migration),
            Box::new(m20261206_000016_count_items_per_owner::Migration),
            Box::new(m20261206_000017_create_catalog_and_orders::Migration),
            Box::new(m20261206_000018_create_idempotency_keys::Migration),
            Box::new(m20261207_000019_create_follows_favorites_and_tags::Migration),
        ]
    }
}
