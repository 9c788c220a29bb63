//! Strata's HTTP edge: actix-web handlers, request/response DTOs,
//! extractors, the edge middleware and the OpenAPI document.
//!
//! Handlers talk only to the service traits in [`AppState`]; this crate never
//! sees a repository or a database type.

pub mod auth;
pub mod error;
pub mod extract;
pub mod health;
pub mod items;
pub mod middleware;
pub mod openapi;
pub mod page;
pub mod posts;
pub mod users;
mod validation;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use strata_service::{AuthService, HealthService, ItemService, PostService, UserService};
use utoipa::OpenApi as _;
use utoipa_actix_web::{AppExt, UtoipaApp};
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use error::ApiError;
pub use middleware::EdgeConfig;

/// The services handlers call, behind their traits.
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<dyn AuthService>,
    pub users: Arc<dyn UserService>,
    pub health: Arc<dyn HealthService>,
    pub items: Arc<dyn ItemService>,
    pub posts: Arc<dyn PostService>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON or form body, in bytes.
    pub body_limit: usize,
    pub edge: EdgeConfig,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            edge: EdgeConfig::default(),
        }
    }
}

/// Registers every documented route. Both the server and the offline
/// document (`strata openapi`) are built from this one function.
fn routes<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.openapi(openapi::ApiDoc::openapi())
        .service(
            utoipa_actix_web::scope("/api/v1")
                .configure(auth::configure)
                .configure(users::configure)
                .configure(items::configure)
                .configure(posts::configure),
        )
        .configure(health::configure)
}

/// The OpenAPI document of every route the server serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(App::new().into_utoipa_app()).split_for_parts().1
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
    let (app, api) = routes(App::new().into_utoipa_app()).split_for_parts();
    app.app_data(web::Data::new(state))
        .app_data(web::Data::new(settings.edge))
        .app_data(
            web::JsonConfig::default()
                .limit(settings.body_limit)
                .error_handler(extract::json_error),
        )
        .app_data(
            web::FormConfig::default()
                .limit(settings.body_limit)
                .error_handler(extract::form_error),
        )
        .app_data(web::PayloadConfig::new(settings.body_limit))
        .app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        .service(web::redirect("/docs", "/docs/"))
        .service(
            SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", api)
                .config(
                    Config::default()
                        .validator_url("none")
                        .persist_authorization(true),
                ),
        )
        .default_service(web::to(|| async {
            HttpResponse::from_error(ApiError::NotFound("Route"))
        }))
        .wrap(actix_web::middleware::from_fn(middleware::edge))
}
