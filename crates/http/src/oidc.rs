//! `/api/v1/auth/oidc/*` and `/api/v1/users/me/identities*`: signing in
//! through OpenID Connect providers, and the identities linked to one's
//! account.
//!
//! The flow for client authors:
//! 1. Send the browser to `GET /auth/oidc/{provider}/authorize` (`?mode=api`
//!    or `?mode=browser`). It answers 302 to the provider and sets the
//!    `strata_oidc` cookie (`HttpOnly`, `SameSite=Lax`, 10 minutes) that
//!    binds the login to this browser.
//! 2. The provider redirects back to `GET /auth/oidc/{provider}/callback`
//!    with `code` and `state`. In `api` mode the callback answers the token
//!    pair as JSON (a client that loads the callback itself, with the
//!    cookie); in `browser` mode it redirects (303) to `oidc.frontend_redirect`
//!    with `#code=…`, a one-time code the front end trades at
//!    `POST /auth/oidc/exchange` within 60 seconds. Tokens never travel in a URL.
//! 3. A signed-in account links another identity with
//!    `POST /users/me/identities {"provider"}`, which answers the provider URL
//!    to navigate to (and sets the same cookie); the callback then links
//!    instead of signing in.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::oidc::{FlowMode, Identity};
use strata_service::oidc::{Callback, CallbackOutcome};
use strata_service::tokens::hash_refresh_token;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::auth::{CookieSettings, TokenResponse, tokens_response};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::page::{PageResponse, page_request};
use crate::rate_limit::RateLimits;
use crate::users::UserResponse;
use crate::validation;

/// The cookie that binds a login to the browser that started it.
pub const BINDING_COOKIE: &str = "strata_oidc";
const BINDING_PATH: &str = "/api/v1/auth/oidc";
const BINDING_SECS: i64 = 600;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(authorize)
        .service(callback)
        .service(exchange)
        .service(list_identities)
        .service(link_identity)
        .service(unlink_identity);
}

/// How the tokens of the sign-in reach the client.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The callback answers the token pair as JSON.
    #[default]
    Api,
    /// The callback redirects to `oidc.frontend_redirect` with `#code=…`.
    Browser,
}

impl From<Mode> for FlowMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Api => Self::Api,
            Mode::Browser => Self::Browser,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ModeQuery {
    /// `api` (default) or `browser`.
    pub mode: Option<Mode>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The `state` this server sent the provider.
    pub state: Option<String>,
    /// The authorization code.
    pub code: Option<String>,
    /// The provider's error (`access_denied`, …) instead of a code.
    pub error: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The value after `#code=` in the front end's URL.
    #[validate(custom(function = "validation::account_token"))]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OidcSignInResponse {
    pub user: UserResponse,
    /// Whether this sign-in created the account.
    pub created: bool,
    #[serde(flatten)]
    pub tokens: TokenResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityResponse {
    pub id: Uuid,
    /// The configured provider's name.
    #[schema(example = "google")]
    pub provider: String,
    #[schema(example = "https://accounts.google.com")]
    pub issuer: String,
    /// The provider's stable identifier of the person.
    pub subject: String,
    /// The address the provider reported when the identity was linked.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Identity> for IdentityResponse {
    fn from(identity: Identity) -> Self {
        Self {
            id: identity.id,
            provider: identity.provider,
            issuer: identity.issuer,
            subject: identity.subject,
            email: identity.email,
            created_at: identity.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationResponse {
    /// Where to send the browser (the provider's sign-in page).
    pub authorization_url: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentityListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000, default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

fn binding_cookie(cookies: &CookieSettings, value: String, max_age: i64) -> Cookie<'static> {
    Cookie::build(BINDING_COOKIE, value)
        .path(BINDING_PATH)
        .http_only(true)
        // Lax, not Strict: the provider's redirect back is a cross-site
        // top-level navigation, which must carry the cookie.
        .same_site(SameSite::Lax)
        .secure(cookies.secure)
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

/// Start signing in with `provider`: redirects to the provider.
///
/// Sets the `strata_oidc` cookie that the callback requires. In `browser`
/// mode the callback ends at `oidc.frontend_redirect` with a one-time code.
#[utoipa::path(
    tag = "auth",
    params(("provider" = String, Path, description = "A configured provider, e.g. `google`"), ModeQuery),
    responses(
        (status = 302, description = "To the provider's sign-in page; `Set-Cookie: strata_oidc=…` binds the login to this browser",
            headers(("Location" = String, description = "The provider's authorization URL with state, nonce and an S256 PKCE challenge"))),
        (status = 404, description = "`NOT_FOUND`: no such provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: `mode=browser` without `oidc.frontend_redirect`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`OIDC_PROVIDER_UNAVAILABLE`: discovery failed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/auth/oidc/{provider}/authorize")]
pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    cookies: web::Data<CookieSettings>,
    provider: web::Path<String>,
    query: web::Query<ModeQuery>,
) -> Result<HttpResponse, ApiError> {
    limits.check_credentials(&req, &[], true).await?;
    let mode = query.mode.unwrap_or_default().into();
    let started = state.oidc.authorize(&provider, mode, None).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, started.url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(binding_cookie(&cookies, started.binding, BINDING_SECS))
        .finish())
}

/// Where the provider sends the browser back. Completes the sign-in (or
/// the linking) started by `authorize`; needs the `strata_oidc` cookie.
#[utoipa::path(
    tag = "auth",
    params(("provider" = String, Path, description = "The provider the login started with"), CallbackQuery),
    responses(
        (status = 200, description = "`api` mode: signed in", body = OidcSignInResponse),
        (status = 201, description = "`api` mode, linking flow: the identity is linked", body = IdentityResponse),
        (status = 303, description = "`browser` mode: to `oidc.frontend_redirect` with `#code=…` (sign-in) or `#linked=…` (linking)",
            headers(("Location" = String, description = "The front end, with the one-time code in the fragment"))),
        (status = 400, description = "`OIDC_STATE_INVALID`: the state is unknown, used, expired, for another provider, or the cookie is missing or another browser's", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`OIDC_LOGIN_FAILED`: the provider refused, or its ID token failed verification (signature, algorithm, issuer, audience, expiry, nonce)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`: no such provider", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`OIDC_LINK_REQUIRED`: an account has this e-mail address and may not be linked automatically — sign in to it and link the identity; `IDENTITY_TAKEN`: (linking) another account holds the identity", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`OIDC_PROVIDER_UNAVAILABLE`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/auth/oidc/{provider}/callback")]
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    cookies: web::Data<CookieSettings>,
    provider: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let presented = query.state.unwrap_or_default();
    limits
        .check_credentials(
            &req,
            &[format!(
                "oidc-state:{}",
                &hash_refresh_token(&presented)[..32]
            )],
            true,
        )
        .await?;
    let outcome = state
        .oidc
        .callback(
            &provider,
            Callback {
                state: presented,
                code: query.code,
                error: query.error,
                binding: req.cookie(BINDING_COOKIE).map(|c| c.value().to_owned()),
            },
        )
        .await?;
    let spent = binding_cookie(&cookies, String::new(), 0);
    Ok(match outcome {
        CallbackOutcome::SignedIn {
            user,
            tokens,
            created,
        } => {
            let mut response = tokens_response(StatusCode::OK);
            cookies.apply(&mut response, Some(&tokens.refresh_token));
            response.cookie(spent).json(OidcSignInResponse {
                user: UserResponse::from(&user),
                created,
                tokens: tokens.into(),
            })
        }
        CallbackOutcome::Linked(identity) => crate::created("/api/v1/users/me/identities".into())
            .cookie(spent)
            .json(IdentityResponse::from(identity)),
        CallbackOutcome::Redirect(url) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(spent)
            .finish(),
    })
}

/// Trade a browser flow's one-time code for a token pair. The code works
/// once, for 60 seconds.
#[utoipa::path(
    tag = "auth",
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "A new session's token pair (and, in cookie mode, its cookies)", body = TokenResponse),
        (status = 400, description = "`INVALID_TOKEN`: the code is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/oidc/exchange")]
pub async fn exchange(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    cookies: web::Data<CookieSettings>,
    body: ValidatedJson<ExchangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = body.0.code;
    limits
        .check_credentials(
            &req,
            &[format!("oidc-code:{}", &hash_refresh_token(&code)[..32])],
            true,
        )
        .await?;
    let tokens = state.oidc.exchange(&code).await?;
    let mut response = tokens_response(StatusCode::OK);
    cookies.apply(&mut response, Some(&tokens.refresh_token));
    Ok(response.json(TokenResponse::from(tokens)))
}

/// The identities linked to the caller's account, oldest first.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(IdentityListQuery),
    responses(
        (status = 200, body = PageResponse<IdentityResponse>),
    )
)]
#[get("/users/me/identities")]
pub async fn list_identities(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<IdentityListQuery>,
) -> Result<web::Json<PageResponse<IdentityResponse>>, ApiError> {
    let mut errors = ValidationErrors::default();
    let Some(page) = page_request(query.limit, query.offset, &mut errors) else {
        return Err(errors.into());
    };
    // An account holds at most a few identities (MAX_IDENTITIES): the page
    // is cut from the whole list.
    let all = state.oidc.identities(&caller.0).await?;
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit()).unwrap_or(usize::MAX))
        .map(IdentityResponse::from)
        .collect();
    Ok(web::Json(PageResponse {
        items,
        total,
        limit: page.limit(),
        offset: page.offset(),
        next_cursor: None,
    }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// A configured provider, e.g. `google`.
    #[validate(length(min = 1, max = 64))]
    #[schema(
        example = "google",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9_-]+$"
    )]
    pub provider: String,
    /// How the callback ends: `api` (JSON, default) or `browser` (a
    /// redirect to `oidc.frontend_redirect` with `#linked=…`).
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// Start linking an identity at a provider to the caller's account: send
/// the browser to `authorization_url`; the callback links the identity.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "Navigate to `authorization_url`; `Set-Cookie: strata_oidc=…` binds the flow to this browser", body = AuthorizationResponse),
        (status = 404, description = "`NOT_FOUND`: no such provider", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`OIDC_PROVIDER_UNAVAILABLE`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/me/identities")]
pub async fn link_identity(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    cookies: web::Data<CookieSettings>,
    caller: Authenticated,
    body: ValidatedJson<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    limits.check_credentials(&req, &[], true).await?;
    let body = body.0;
    let mode = body.mode.unwrap_or_default().into();
    let started = state
        .oidc
        .authorize(&body.provider, mode, Some(caller.0))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(binding_cookie(&cookies, started.binding, BINDING_SECS))
        .json(AuthorizationResponse {
            authorization_url: started.url,
        }))
}

/// Unlink one of the caller's identities. Refused when the account would
/// be left with no password and no other identity.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "The identity's id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 409, description = "`LAST_SIGN_IN_METHOD`: set a password (password reset) or link another identity first", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/me/identities/{id}")]
pub async fn unlink_identity(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.oidc.unlink(&caller.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
