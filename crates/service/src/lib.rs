//! Strata's use cases. Each feature exposes a trait (the port the HTTP layer
//! calls) and an implementation over the domain's repository ports.
//!
//! This crate knows nothing of HTTP or SQL: it takes domain values in, returns
//! domain values or a [`ServiceError`], and keeps CPU-heavy work (bcrypt) off
//! the async executor.

pub mod accounts;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod items;
pub mod jobs;
pub mod mail;
pub mod notifications;
pub mod oidc;
pub mod orders;
pub mod password;
pub mod posts;
pub mod profiles;
pub mod realtime;
mod realtime_feed;
pub mod revocation;
#[cfg(test)]
mod test_support;
pub mod tokens;
pub mod users;

pub use accounts::{AccountMail, AccountService, AccountServiceImpl, AccountSettings};
pub use auth::{AuthConfig, AuthService, AuthServiceImpl, Registration, TokenPair};
pub use catalog::{CatalogService, CatalogServiceImpl, CategoryDraft, ProductDraft};
pub use error::ServiceError;
pub use events::Invalidation;
pub use health::{HealthService, HealthServiceImpl, QueueHealth, Readiness};
pub use idempotency::{IdempotencyService, IdempotencyServiceImpl, IdempotencySettings, Keyed};
pub use items::{ItemDraft, ItemService, ItemServiceImpl};
pub use jobs::{JobService, JobServiceImpl};
pub use notifications::{NotificationService, NotificationServiceImpl};
pub use oidc::{OidcProvider, OidcService, OidcServiceImpl, OidcSettings};
pub use orders::{OrderService, OrderServiceImpl};
pub use password::{HashPriority, PasswordHasher};
pub use posts::{PostDraft, PostService, PostServiceImpl};
pub use profiles::{ProfileService, ProfileServiceImpl};
pub use realtime::{
    CloseReason, Dispatcher, Feed, FeedItem, IssuedTicket, RealtimeConfig, RealtimeService,
    RealtimeServiceImpl,
};
pub use revocation::RevocationList;
pub use tokens::TokenCodec;
pub use users::{ProfileChanges, UserCache, UserService, UserServiceImpl, UserStatsReport};

pub use strata_domain as domain;
