//! Strata's domain: entities, value objects, the rules they enforce, and the
//! repository ports that adapters implement.
//!
//! This crate performs no I/O and knows nothing of HTTP, SQL or async runtimes;
//! that is what lets every other layer test against it with mocks.

pub mod accounts;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod events;
pub mod fields;
pub mod files;
pub mod health;
pub mod idempotency;
pub mod items;
pub mod jobs;
pub mod notifications;
pub mod oidc;
pub mod orders;
pub mod page;
pub mod posts;
pub mod profiles;
pub mod realtime;
pub mod text;
pub mod users;
pub mod validation;

pub use error::{RepoError, UniqueField};
pub use validation::{FieldError, ValidationErrors};
