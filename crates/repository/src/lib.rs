//! Storage adapters: sea-orm implementations of the repository ports declared
//! in `strata-domain`.
//!
//! One code path serves SQLite and PostgreSQL. sea-orm types stay inside this
//! crate; callers see only the domain's ports, [`connect`], and the two
//! connection types the application needs to name when wiring and migrating.

mod auth;
mod db;
mod entities;
mod error;
mod health;
mod tx;
mod users;

pub use auth::SeaSessionRepository;
pub use db::{DatabaseConnection, DbErr, connect};
pub use health::SeaHealthRepository;
pub use users::SeaUserRepository;
