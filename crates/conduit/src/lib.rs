//! The RealWorld ("Conduit") API: a second HTTP adapter over Strata's
//! service traits, for the many Conduit front ends.
//!
//! It shares no code with `strata-http`: Conduit's contract (its error
//! shape `{"errors":{field:[message]}}`, `Authorization: Token`, camelCase
//! bodies wrapped in `{"user":…}`/`{"article":…}`) differs from Strata's
//! own in every detail, so translating one into the other would cost more
//! than the handlers. What it shares is everything below the edge: every
//! rule, authorization decision and query is the services'.
//!
//! [`scope`] returns the routes; the `app` crate mounts them and may wrap
//! them in its own middleware.

mod articles;
mod auth;
mod comments;
mod error;
mod json;
mod profiles;
mod users;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use async_trait::async_trait;
use strata_service::accounts::AccountService;
use strata_service::auth::AuthService;
use strata_service::posts::PostService;
use strata_service::profiles::ProfileService;
use strata_service::users::UserService;
use uuid::Uuid;

use error::ConduitError;

/// The largest request body accepted; Conduit's largest field, an article's
/// body, is 50,000 characters.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The services the Conduit routes call.
#[derive(Clone)]
pub struct Conduit {
    pub auth: Arc<dyn AuthService>,
    /// Whether a caller may write content (`auth.require_verified_email`).
    pub accounts: Arc<dyn AccountService>,
    pub users: Arc<dyn UserService>,
    pub profiles: Arc<dyn ProfileService>,
    pub posts: Arc<dyn PostService>,
    pub throttle: Arc<dyn Throttle>,
}

impl std::fmt::Debug for Conduit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conduit").finish_non_exhaustive()
    }
}

/// Rate limits as Conduit's routes charge them. The `app` crate implements
/// it over Strata's own limiter; this crate only knows when to ask.
#[async_trait(?Send)]
pub trait Throttle: Send + Sync {
    /// Charges one attempt with these credentials (the case-folded e-mail).
    ///
    /// # Errors
    /// The seconds to wait when the budget is spent.
    async fn credentials(&self, req: &HttpRequest, subject: &str) -> Result<(), u64>;

    /// Charges one request of `user` (or of the client address when `None`).
    ///
    /// # Errors
    /// The seconds to wait when the budget is spent.
    async fn request(&self, req: &HttpRequest, user: Option<Uuid>) -> Result<(), u64>;
}

/// A [`Throttle`] that lets everything through: for tests, and for
/// deployments with rate limiting off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unthrottled;

#[async_trait(?Send)]
impl Throttle for Unthrottled {
    async fn credentials(&self, _req: &HttpRequest, _subject: &str) -> Result<(), u64> {
        Ok(())
    }

    async fn request(&self, _req: &HttpRequest, _user: Option<Uuid>) -> Result<(), u64> {
        Ok(())
    }
}

/// Every Conduit route under `path` (e.g. `/api`), with the services and
/// the body and query error handlers they need.
pub fn scope(path: &str, conduit: Conduit) -> actix_web::Scope {
    let scope = web::scope(path)
        .app_data(web::Data::new(conduit))
        .app_data(
            web::JsonConfig::default()
                .limit(BODY_LIMIT)
                .error_handler(|err, _req| ConduitError::from(err).into()),
        )
        .app_data(
            web::QueryConfig::default().error_handler(|err, _req| ConduitError::from(err).into()),
        );
    // Articles first: `/articles/feed` must win over `/articles/{slug}`.
    scope
        .configure(articles::configure)
        .configure(comments::configure)
        .configure(users::configure)
        .configure(profiles::configure)
}
