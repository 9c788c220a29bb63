//! `/api/v1/auth/*`: registration, login, refresh, logout, password change.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, put, web};
use strata_service::tokens::hash_refresh_token;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::rate_limit::RateLimits;
use crate::users::UserResponse;

mod cookies;
mod dto;
mod extract;

pub use cookies::{CSRF_COOKIE, CSRF_HEADER, CookieSettings, REFRESH_COOKIE};
pub use dto::{
    LoginForm, LoginRequest, PasswordChangeRequest, RefreshRequest, RegisterRequest,
    RegisterResponse, TokenResponse,
};
pub use extract::{LoginCredentials, OptionalJson};

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(logout_all)
        .service(change_password);
}

/// Token answers must never be cached by a browser or proxy (RFC 6749 §5.1).
pub(crate) fn tokens_response(
    status: actix_web::http::StatusCode,
) -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// The rate-limit subject for a login name: case-folded, so `Ada` and `ada`
/// share one budget.
fn subject(name: &str) -> String {
    format!("name:{}", name.trim().to_lowercase())
}

/// Create an account and log it in.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; `Location` names it", body = RegisterResponse,
            headers(("Location" = String, description = "/api/v1/users/me"))),
        (status = 409, description = "E-mail (`EMAIL_TAKEN`) or username (`USERNAME_TAKEN`) taken", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/register")]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    cookies: web::Data<CookieSettings>,
    body: ValidatedJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    limits
        .check_credentials(&req, &[subject(&body.email), subject(&body.username)], true)
        .await?;
    let registration = body.try_into_domain()?;
    let (user, tokens) = state.auth.register(registration).await?;
    let mut response = tokens_response(actix_web::http::StatusCode::CREATED);
    cookies.apply(&mut response, Some(&tokens.refresh_token));
    Ok(response
        .insert_header((header::LOCATION, "/api/v1/users/me"))
        .json(RegisterResponse {
            user: UserResponse::from(&user),
            tokens: tokens.into(),
        }))
}

/// Log in with an e-mail address or username and a password.
///
/// Accepts JSON, or an OAuth2 password-grant form (`grant_type=password`), so
/// Swagger UI's Authorize button works.
#[utoipa::path(
    tag = "auth",
    request_body(
        content(
            (LoginRequest = "application/json"),
            (LoginForm = "application/x-www-form-urlencoded"),
        )
    ),
    responses(
        (status = 200, description = "A new session's token pair", body = TokenResponse),
        (status = 401, description = "`INVALID_CREDENTIALS`, identical for an unknown user and a wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED` (per IP and per username), with `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    cookies: web::Data<CookieSettings>,
    credentials: LoginCredentials,
) -> Result<HttpResponse, ApiError> {
    limits
        .check_credentials(&req, &[subject(&credentials.username)], true)
        .await?;
    let tokens = state
        .auth
        .login(&credentials.username, &credentials.password)
        .await?;
    let mut response = tokens_response(actix_web::http::StatusCode::OK);
    cookies.apply(&mut response, Some(&tokens.refresh_token));
    Ok(response.json(TokenResponse::from(tokens)))
}

/// Exchange a refresh token for a new pair. The presented token is consumed;
/// presenting it again revokes the whole session.
///
/// In cookie mode the body may be omitted: the refresh cookie is used, and
/// the CSRF cookie's value must be sent in `X-CSRF-Token`.
#[utoipa::path(
    tag = "auth",
    request_body(content = Option<RefreshRequest>),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Cookie mode only: the strata_csrf cookie's value")),
    responses(
        (status = 200, description = "A new token pair for the same session", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie mode: missing or wrong CSRF token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    cookies: web::Data<CookieSettings>,
    body: OptionalJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = match body.0 {
        Some(body) => body.refresh_token,
        None => cookies
            .cookie_token(&req)?
            .ok_or(ApiError::Unauthenticated {
                token_presented: false,
            })?,
    };
    // Keyed by the token's hash: the budget follows the token, and the
    // limiter's store never holds a usable secret.
    limits
        .check_credentials(
            &req,
            &[format!("refresh:{}", &hash_refresh_token(&presented)[..32])],
            false,
        )
        .await?;
    let tokens = state.auth.refresh(&presented).await?;
    let mut response = tokens_response(actix_web::http::StatusCode::OK);
    cookies.apply(&mut response, Some(&tokens.refresh_token));
    Ok(response.json(TokenResponse::from(tokens)))
}

/// End this session: its access and refresh tokens stop working at once.
///
/// In cookie mode a browser may instead present the refresh cookie, with the
/// CSRF cookie's value in `X-CSRF-Token`.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Cookie mode only: the strata_csrf cookie's value")),
    responses(
        (status = 204, description = "Logged out; cookies cleared in cookie mode"),
        (status = 403, description = "Cookie mode: missing or wrong CSRF token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    cookies: web::Data<CookieSettings>,
) -> Result<HttpResponse, ApiError> {
    if crate::bearer::bearer_token(&req).is_some() || !cookies.enabled {
        let caller = crate::extract::authenticate(&req)?;
        state.auth.logout(&caller.0).await?;
    } else {
        let token = cookies
            .cookie_token(&req)?
            .ok_or(ApiError::Unauthenticated {
                token_presented: false,
            })?;
        state.auth.logout_by_refresh_token(&token).await?;
    }
    let mut response = HttpResponse::NoContent();
    cookies.apply(&mut response, None);
    Ok(response.finish())
}

/// End every session of the caller.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Every session logged out"),
    )
)]
#[post("/auth/logout-all")]
pub async fn logout_all(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout_all(&caller.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change the caller's password; every other session is revoked.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = PasswordChangeRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 401, description = "Missing or invalid token (`UNAUTHENTICATED`) or wrong current password (`INVALID_CREDENTIALS`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/auth/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ValidatedJson<PasswordChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let (current, new) = body.0.try_into_domain()?;
    state.auth.change_password(&caller.0, &current, new).await?;
    Ok(HttpResponse::NoContent().finish())
}
