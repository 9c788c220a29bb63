//! Storage adapters: sea-orm implementations of the repository ports declared
//! in `strata-domain`.
//!
//! One code path serves SQLite and PostgreSQL. sea-orm types stay inside this
//! crate; callers see only the domain's ports, [`connect`], and the two
//! connection types the application needs to name when wiring and migrating.

mod accounts;
mod auth;
mod backup;
mod catalog;
mod catalog_products;
mod catalog_version;
mod coalesce;
mod comments;
mod counts;
mod db;
mod entities;
mod error;
mod favorites;
mod files;
mod health;
mod idempotency;
mod items;
mod jobs;
mod jobs_lease;
mod jobs_wake;
mod notifications;
mod oidc;
mod orders;
mod orders_stats;
mod pg_listen;
mod posts;
mod profiles;
mod query;
mod realtime;
mod tx;
mod users;
mod users_admin;

pub use accounts::SeaAccountTokenRepository;
pub use auth::SeaSessionRepository;
pub use backup::{BackupError, backup};
pub use catalog::SeaCatalogRepository;
pub use db::{DatabaseConnection, DbErr, PoolStats, connect, pool_stats};
pub use files::LocalFileStore;
pub use health::SeaHealthRepository;
pub use idempotency::SeaIdempotencyRepository;
pub use items::SeaItemRepository;
pub use jobs::SeaJobRepository;
pub use notifications::SeaNotificationRepository;
pub use oidc::SeaOidcRepository;
pub use orders::SeaOrderRepository;
pub use pg_listen::{Listener, Notice, listen, notify};
pub use posts::SeaPostRepository;
pub use profiles::SeaProfileRepository;
pub use realtime::SeaRealtimeRepository;
pub use users::SeaUserRepository;
