//! sea-orm's view of the tables created by `strata-migration`.
//!
//! These models are storage shapes, not domain types: they stay inside this
//! crate and are converted at the adapter boundary, so a schema detail (such as
//! the `username_lower` column) never leaks into the rest of the system.

pub(crate) mod account_tokens;
pub(crate) mod categories;
pub(crate) mod comments;
pub(crate) mod event_sequences;
pub(crate) mod favorites;
pub(crate) mod follows;
pub(crate) mod idempotency_keys;
pub(crate) mod items;
pub(crate) mod jobs;
pub(crate) mod notifications;
pub(crate) mod oidc_login_codes;
pub(crate) mod oidc_pending_logins;
pub(crate) mod order_items;
pub(crate) mod orders;
pub(crate) mod post_tags;
pub(crate) mod posts;
pub(crate) mod products;
pub(crate) mod profiles;
pub(crate) mod refresh_tokens;
pub(crate) mod revocations;
pub(crate) mod sessions;
pub(crate) mod user_identities;
pub(crate) mod users;
pub(crate) mod ws_tickets;
