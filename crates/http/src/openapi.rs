//! The OpenAPI document's fixed parts: metadata, security schemes and shared
//! schemas. Paths are collected from the handlers by `utoipa-actix-web` as
//! they are registered, so a route cannot be served undocumented.

use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldProblem, Problem};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Strata API",
        description = "Accounts, JWT authentication and the operational surface of a Strata server. \
                       Errors are RFC 9457 problem documents (`application/problem+json`).",
        license(name = "MIT OR Apache-2.0"),
    ),
    components(schemas(Problem, FieldProblem, crate::users::export::ExportFormat)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Registration, login, tokens and sessions"),
        (name = "users", description = "Accounts: one's own, and administration of everyone's"),
        (name = "items", description = "Owner-scoped items with ETag preconditions"),
        (name = "posts", description = "The public blog: posts, comments, favorites, the feed and tags"),
        (name = "profiles", description = "Public author profiles and follows"),
        (name = "catalog", description = "Categories and products: public reads, admin writes with a required If-Match"),
        (name = "orders", description = "Orders against the catalog's stock, their status, and sales statistics"),
        (name = "jobs", description = "Background jobs: progress, cancellation, retries and result files"),
        (name = "notifications", description = "What happened to the caller's things: comments, jobs, role changes"),
        (name = "realtime", description = "A WebSocket of the caller's job progress and notifications (docs/realtime.md)"),
        (name = "health", description = "Liveness and readiness probes"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The metrics.token from configuration, when one is set",
                    ))
                    .build(),
            ),
        );
        // The password flow lets Swagger UI's Authorize dialog log in with a
        // username and password through the form-encoded login endpoint.
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/api/v1/auth/login",
                Scopes::new(),
            ))])),
        );
    }
}
