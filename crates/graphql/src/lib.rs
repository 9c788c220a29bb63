//! GraphQL at `/graphql`: a second adapter over Strata's service traits
//! (docs/graphql.md), for clients that want a post with its author and
//! comments in one round trip.
//!
//! Every resolver calls the same service as the REST handler beside it, with
//! the same principal, so authorization is the services' and is never
//! re-implemented here: another user's item is absent (`null`), exactly as
//! it is a 404 on `/api/v1`. What this crate adds is the GraphQL edge: its
//! transport (bounded bodies and batches, no mutation over GET), its cost
//! limits (depth, complexity, aliases), per-request DataLoaders so that a
//! page of posts costs a constant number of statements, and error
//! `extensions.code` values that are the REST problem codes.

mod catalog;
mod context;
mod error;
mod graphiql;
mod items;
mod jobs;
mod notifications;
mod orders;
mod page;
mod posts;
mod profiles;
mod transport;
mod users;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use strata_service::accounts::AccountService;
use strata_service::auth::AuthService;
use strata_service::catalog::CatalogService;
use strata_service::items::ItemService;
use strata_service::jobs::JobService;
use strata_service::notifications::NotificationService;
use strata_service::orders::OrderService;
use strata_service::posts::PostService;
use strata_service::profiles::ProfileService;
use strata_service::users::UserService;

pub use transport::{Graphql, scope};

/// The services the resolvers call.
#[derive(Clone)]
pub struct Services {
    pub auth: Arc<dyn AuthService>,
    /// Whether a caller may write content (`auth.require_verified_email`).
    pub accounts: Arc<dyn AccountService>,
    pub users: Arc<dyn UserService>,
    pub profiles: Arc<dyn ProfileService>,
    pub posts: Arc<dyn PostService>,
    pub items: Arc<dyn ItemService>,
    pub jobs: Arc<dyn JobService>,
    pub notifications: Arc<dyn NotificationService>,
    pub catalog: Arc<dyn CatalogService>,
    pub orders: Arc<dyn OrderService>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// What one request may cost (`[graphql]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The deepest selection, introspection included.
    pub max_depth: usize,
    /// The summed cost of the fields selected; a list costs its `limit`
    /// times what one element selects.
    pub max_complexity: usize,
    /// Aliased fields in one document: each alias is another execution of
    /// its field, so they multiply cost past what complexity sees per field.
    pub max_aliases: usize,
    /// Operations in one batched request (a JSON array).
    pub max_batch: usize,
    /// Whether `__schema` and `__type` answer (off in production unless
    /// configured).
    pub introspection: bool,
    /// The largest request body, in bytes.
    pub body_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 1_000,
            max_aliases: 30,
            max_batch: 5,
            introspection: true,
            body_limit: 64 * 1024,
        }
    }
}

/// Every query field.
#[derive(MergedObject, Default, Debug)]
pub struct Query(
    users::UsersQuery,
    profiles::ProfilesQuery,
    items::ItemsQuery,
    posts::PostsQuery,
    jobs::JobsQuery,
    notifications::NotificationsQuery,
    catalog::CatalogQuery,
    orders::OrdersQuery,
);

/// Every mutation.
#[derive(MergedObject, Default, Debug)]
pub struct Mutation(
    profiles::ProfilesMutation,
    items::ItemsMutation,
    posts::PostsMutation,
    jobs::JobsMutation,
    notifications::NotificationsMutation,
    orders::OrdersMutation,
);

pub type StrataSchema = Schema<Query, Mutation, EmptySubscription>;

/// The executable schema over `services`, bounded by `limits`.
pub fn schema(services: Services, limits: &Limits) -> StrataSchema {
    let builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(services)
        .limit_depth(limits.max_depth)
        .limit_recursive_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if limits.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The schema in SDL, for `strata graphql-schema` and the snapshot test.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}

/// What a list field costs: its page size times what one element selects,
/// so `posts(limit: 100) { comments(limit: 100) { … } }` is refused before
/// it runs.
pub(crate) fn page_cost(limit: Option<i32>, per_element: usize) -> usize {
    let limit = limit.map_or(20, |limit| limit.clamp(1, 100));
    usize::try_from(limit)
        .unwrap_or(100)
        .saturating_mul(per_element.max(1))
}
