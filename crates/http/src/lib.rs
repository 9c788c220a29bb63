//! Strata's HTTP edge: actix-web handlers, request/response DTOs,
//! extractors, the edge middleware and the OpenAPI document.
//!
//! Handlers talk only to the service traits in [`AppState`]; this crate never
//! sees a repository or a database type.

pub mod accounts;
pub mod auth;
pub mod bearer;
pub mod body;
pub mod catalog;
pub mod conditional;
pub mod context;
pub mod error;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod items;
pub mod jobs;
pub mod methods;
pub mod metrics;
pub mod middleware;
pub mod notifications;
pub mod oidc;
pub mod openapi;
mod openapi_responses;
pub mod orders;
pub mod page;
pub mod posts;
pub mod profiles;
pub mod rate_limit;
pub mod realtime;
mod realtime_socket;
pub mod throttle;
pub mod users;
mod validation;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{App, HttpResponse, web};
use strata_service::{
    AccountService, AuthService, CatalogService, HealthService, IdempotencyService, ItemService,
    JobService, NotificationService, OidcService, OrderService, PostService, ProfileService,
    RealtimeService, UserService,
};
use utoipa::OpenApi as _;
use utoipa_actix_web::{AppExt, UtoipaApp};
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use auth::CookieSettings;
pub use error::ApiError;
pub use metrics::MetricsEndpoint;
pub use middleware::EdgeConfig;
pub use rate_limit::RateLimits;
pub use realtime_socket::SocketLimits;

/// The services handlers call, behind their traits.
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<dyn AuthService>,
    pub accounts: Arc<dyn AccountService>,
    pub users: Arc<dyn UserService>,
    pub health: Arc<dyn HealthService>,
    pub items: Arc<dyn ItemService>,
    pub posts: Arc<dyn PostService>,
    pub profiles: Arc<dyn ProfileService>,
    pub jobs: Arc<dyn JobService>,
    pub notifications: Arc<dyn NotificationService>,
    pub realtime: Arc<dyn RealtimeService>,
    pub oidc: Arc<dyn OidcService>,
    pub catalog: Arc<dyn CatalogService>,
    pub orders: Arc<dyn OrderService>,
    pub idempotency: Arc<dyn IdempotencyService>,
}

#[cfg(feature = "mocks")]
impl AppState {
    /// Every service a mockall mock that expects nothing, so any call fails
    /// the test. Tests replace the services they use and keep the rest:
    /// `AppState { items: Arc::new(items), ..AppState::mocked() }`, so a new
    /// service needs no edit in tests that do not use it.
    pub fn mocked() -> Self {
        use strata_service::{
            accounts::MockAccountService, auth::MockAuthService, catalog::MockCatalogService,
            health::MockHealthService, idempotency::MockIdempotencyService, items::MockItemService,
            jobs::MockJobService, notifications::MockNotificationService, oidc::MockOidcService,
            orders::MockOrderService, posts::MockPostService, profiles::MockProfileService,
            realtime::MockRealtimeService, users::MockUserService,
        };
        Self {
            auth: Arc::new(MockAuthService::new()),
            accounts: Arc::new(MockAccountService::new()),
            users: Arc::new(MockUserService::new()),
            health: Arc::new(MockHealthService::new()),
            items: Arc::new(MockItemService::new()),
            posts: Arc::new(MockPostService::new()),
            profiles: Arc::new(MockProfileService::new()),
            jobs: Arc::new(MockJobService::new()),
            notifications: Arc::new(MockNotificationService::new()),
            realtime: Arc::new(MockRealtimeService::new()),
            oidc: Arc::new(MockOidcService::new()),
            catalog: Arc::new(MockCatalogService::new()),
            orders: Arc::new(MockOrderService::new()),
            idempotency: Arc::new(MockIdempotencyService::new()),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Cross-origin access for browser clients on other origins.
#[derive(Debug, Clone, Default)]
pub struct CorsSettings {
    /// Exact origins (`https://app.example.com`), or `*` for any (never
    /// together with credentials). Empty: no cross-origin access.
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_secs: usize,
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON or form body, in bytes.
    pub body_limit: usize,
    pub edge: EdgeConfig,
    pub rate_limits: RateLimits,
    pub cors: CorsSettings,
    pub metrics: MetricsEndpoint,
    pub cookies: auth::CookieSettings,
    /// Largest accepted CSV upload (`POST /items/imports`), in bytes.
    pub import_max_bytes: usize,
    /// The WebSocket's per-socket limits.
    pub socket_limits: SocketLimits,
    /// The public catalog's response cache, shared by every worker.
    pub catalog_cache: catalog::CatalogCache,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            edge: EdgeConfig::default(),
            rate_limits: RateLimits::default(),
            cors: CorsSettings::default(),
            metrics: MetricsEndpoint::default(),
            cookies: auth::CookieSettings::default(),
            import_max_bytes: 10 * 1024 * 1024,
            socket_limits: SocketLimits::default(),
            catalog_cache: catalog::CatalogCache::default(),
        }
    }
}

/// A 201 naming the new resource in `Location`, for every creating handler.
pub(crate) fn created(location: String) -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::Created();
    builder.insert_header((actix_web::http::header::LOCATION, location));
    builder
}

/// Headers browsers may read from cross-origin answers.
const EXPOSED_HEADERS: [&str; 11] = [
    "x-request-id",
    "idempotent-replayed",
    "etag",
    "location",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    // A deprecated route's announcement (`middleware::deprecated`).
    "deprecation",
    "sunset",
    "link",
];

/// The CORS policy of `settings`, for the API scope and for adapters
/// mounted beside it (the Conduit API).
pub fn cors(settings: &CorsSettings) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .expose_headers(EXPOSED_HEADERS)
        .max_age(settings.max_age_secs);
    for origin in &settings.allowed_origins {
        cors = if origin == "*" {
            cors.allow_any_origin().send_wildcard()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors = if settings.allowed_methods.is_empty() {
        cors.allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
    } else {
        cors.allowed_methods(settings.allowed_methods.iter().map(String::as_str))
    };
    cors = if settings.allowed_headers.is_empty() {
        cors.allowed_headers([
            "authorization",
            "content-type",
            "if-match",
            "x-request-id",
            "x-csrf-token",
            "idempotency-key",
        ])
    } else {
        cors.allowed_headers(settings.allowed_headers.iter().map(String::as_str))
    };
    if settings.allow_credentials {
        cors = cors.supports_credentials();
    }
    cors
}

/// Registers every documented route. Both the server and the offline
/// document (`strata openapi`) are built from this one function.
///
/// CORS, compression, rate limiting and the handler timeout wrap the API
/// scope only (readiness has its own timeout): probes and scrapes (`/health`,
/// `/metrics`) are served by the edge middleware alone, which keeps the
/// liveness path close to the framework's floor.
fn routes<T>(app: UtoipaApp<T>, cors: actix_cors::Cors) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    // Probes first: the router tries services in order, and a liveness probe
    // should not be compared against the API scope on its way.
    app.openapi(openapi::ApiDoc::openapi())
        .configure(health::configure)
        .configure(metrics::configure)
        // Before the API scope, which would otherwise claim the path.
        .configure(realtime::configure_socket)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(rate_limit::default_budget))
                .wrap(actix_web::middleware::from_fn(
                    middleware::uncompressed_small_bodies,
                ))
                .wrap(actix_web::middleware::Compress::default())
                .wrap(cors)
                .wrap(actix_web::middleware::from_fn(middleware::handler_timeout))
                .configure(auth::configure)
                .configure(accounts::configure)
                .configure(oidc::configure)
                .configure(users::configure)
                .configure(items::configure)
                .configure(posts::configure)
                .configure(profiles::configure)
                .configure(catalog::configure)
                .configure(orders::configure)
                .configure(jobs::configure)
                .configure(notifications::configure)
                .configure(realtime::configure),
        )
}

/// The OpenAPI document of every route the server serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = routes(App::new().into_utoipa_app(), actix_cors::Cors::default())
        .split_for_parts()
        .1;
    openapi_responses::complete(&mut api);
    api
}

/// The complete application: routes, docs, extractor configuration and the
/// edge middleware.
pub fn app(
    state: AppState,
    settings: HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, mut api) =
        routes(App::new().into_utoipa_app(), cors(&settings.cors)).split_for_parts();
    openapi_responses::complete(&mut api);
    let edge = middleware::Edge::new(&settings.edge);
    // The document and its UI are served outside utoipa (below).
    let known = methods::KnownPaths::new(
        &api,
        &[
            ("/openapi.json", &[Method::GET]),
            ("/docs", &[Method::GET]),
            ("/docs/{_:.*}", &[Method::GET]),
        ],
    );
    // Rendered once: the document never changes while the process runs.
    let document = web::Bytes::from(api.to_json().unwrap_or_default());
    app.app_data(web::Data::new(state))
        .app_data(web::Data::new(settings.edge))
        .app_data(web::Data::new(settings.rate_limits))
        .app_data(web::Data::new(settings.metrics))
        .app_data(web::Data::new(settings.cookies))
        .app_data(web::Data::new(realtime::SocketSettings {
            allowed_origins: settings.cors.allowed_origins.clone(),
            limits: settings.socket_limits,
        }))
        .app_data(web::Data::new(known))
        .app_data(web::Data::new(settings.catalog_cache))
        .app_data(web::Data::new(items::ImportLimit(
            settings.import_max_bytes,
        )))
        // Every body extractor reads through `extract::body_bytes`, bounded here.
        .app_data(web::PayloadConfig::new(settings.body_limit))
        .app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        // The document and its UI are not API routes, so they are
        // registered outside utoipa (see the route-coverage test).
        .service(web::resource("/openapi.json").get(move || {
            let document = document.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(document)
            }
        }))
        .service(web::redirect("/docs", "/docs/"))
        .service(
            web::scope("/docs")
                .wrap(actix_web::middleware::Compress::default())
                .service(
                    SwaggerUi::new("/{_:.*}").config(
                        Config::new(["/openapi.json"])
                            .validator_url("none")
                            .persist_authorization(true),
                    ),
                ),
        )
        .default_service(web::to(methods::fallback))
        .wrap(edge)
}
