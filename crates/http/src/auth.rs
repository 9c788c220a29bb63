//! `/api/v1/auth/*`: registration, login, refresh, logout, password change.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, put, web};
use serde::{Deserialize, Serialize};
use strata_domain::users::Password;
use strata_service::tokens::{RefreshSecret, hash_refresh_token};
use strata_service::{Registration, TokenPair};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson, validation_problem};
use crate::rate_limit::RateLimits;
use crate::users::UserResponse;
use crate::validation;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(logout_all)
        .service(change_password);
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[validate(custom(function = "validation::email"))]
    #[schema(example = "ada@example.com", max_length = 254, format = Email)]
    pub email: String,
    #[validate(custom(function = "validation::username"))]
    #[schema(
        example = "ada",
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9_-]+$"
    )]
    pub username: String,
    #[validate(custom(function = "validation::password"))]
    #[schema(example = "Secret123", format = Password, min_length = 8, max_length = 128, pattern = "^([^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z])[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub password: String,
    #[validate(custom(function = "validation::full_name"))]
    #[schema(
        example = "Ada Lovelace",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub full_name: Option<String>,
}

/// Login as JSON. `username` may be the e-mail address or the username.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(custom(function = "validation::login"))]
    #[schema(
        example = "ada",
        min_length = 1,
        max_length = 254,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub username: String,
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(example = "Secret123", format = Password, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub password: String,
}

/// Login as an OAuth2 password-grant form (RFC 6749 §4.3.2; what Swagger
/// UI's Authorize sends). The grant's other fields are accepted and ignored;
/// any other field is refused, as in JSON.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    #[validate(custom(function = "validation::login"))]
    #[schema(
        example = "ada",
        min_length = 1,
        max_length = 254,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    username: String,
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(format = Password, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    password: String,
    /// `password` when sent; no other grant is supported.
    #[schema(pattern = "^password$")]
    grant_type: Option<String>,
    #[allow(dead_code)]
    scope: Option<String>,
    #[allow(dead_code)]
    client_id: Option<String>,
    #[allow(dead_code)]
    client_secret: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Any string without NUL is accepted here: one that is not a live
    /// refresh token (an access token, a truncated one, garbage) is simply
    /// invalid, 401. NUL is refused in every body (422), as for passwords.
    #[schema(pattern = "^[^\\u0000]*$")]
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(format = Password, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub current_password: String,
    #[validate(custom(function = "validation::password"))]
    #[schema(format = Password, min_length = 8, max_length = 128, pattern = "^([^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z])[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: UserResponse,
    #[serde(flatten)]
    pub tokens: TokenResponse,
}

pub const REFRESH_COOKIE: &str = "strata_refresh";
pub const CSRF_COOKIE: &str = "strata_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The opt-in cookie mode for browser clients: the refresh token also travels
/// as an `HttpOnly` cookie scoped to `/api/v1/auth`, and requests that
/// authenticate with that cookie must echo a readable CSRF cookie in
/// `X-CSRF-Token` (double submit), which a cross-site page cannot read.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub enabled: bool,
    /// `Secure` flag; only ever off for plain-HTTP development.
    pub secure: bool,
    pub max_age_secs: i64,
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            secure: true,
            max_age_secs: 2_592_000,
        }
    }
}

impl CookieSettings {
    /// Sets (or, with `None`, clears) the refresh and CSRF cookies.
    pub(crate) fn apply(
        &self,
        builder: &mut actix_web::HttpResponseBuilder,
        refresh_token: Option<&str>,
    ) {
        if !self.enabled {
            return;
        }
        let max_age = CookieDuration::seconds(if refresh_token.is_some() {
            self.max_age_secs
        } else {
            0
        });
        let csrf = refresh_token
            .map(|_| RefreshSecret::generate().value)
            .unwrap_or_default();
        builder.cookie(
            Cookie::build(REFRESH_COOKIE, refresh_token.unwrap_or_default().to_owned())
                .path("/api/v1/auth")
                .http_only(true)
                .secure(self.secure)
                .same_site(SameSite::Strict)
                .max_age(max_age)
                .finish(),
        );
        builder.cookie(
            Cookie::build(CSRF_COOKIE, csrf)
                .path("/")
                .secure(self.secure)
                .same_site(SameSite::Strict)
                .max_age(max_age)
                .finish(),
        );
    }

    /// The refresh token from the cookie, if this request authenticates that
    /// way and passes the double-submit check.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] when the cookie is there but the CSRF header
    /// is missing or does not match the CSRF cookie.
    fn cookie_token(&self, req: &HttpRequest) -> Result<Option<String>, ApiError> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(token) = req
            .cookie(REFRESH_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
        else {
            return Ok(None);
        };
        let expected = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let presented = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if expected.is_empty()
            || !strata_service::tokens::constant_time_eq(expected.as_bytes(), presented.as_bytes())
        {
            return Err(ApiError::Forbidden);
        }
        Ok(Some(token))
    }
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
    let registration = Registration::parse(
        &body.email,
        &body.username,
        &body.password,
        body.full_name.as_deref(),
    )?;
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

/// The login body in either of its two accepted encodings.
#[derive(Debug)]
pub struct LoginCredentials {
    username: String,
    password: String,
}

impl FromRequest for LoginCredentials {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let bytes = crate::extract::body_bytes(req, payload);
            Box::pin(async move {
                let form: LoginForm = crate::body::decode_form(&bytes.await?)?;
                form.validate().map_err(validation_problem)?;
                if form.grant_type.as_deref().is_some_and(|g| g != "password") {
                    return Err(ApiError::Malformed(
                        "Only grant_type=password is supported.".into(),
                    )
                    .into());
                }
                Ok(Self {
                    username: form.username,
                    password: form.password,
                })
            })
        } else {
            let json = ValidatedJson::<LoginRequest>::from_request(req, payload);
            Box::pin(async move {
                let body = json.await?.0;
                Ok(Self {
                    username: body.username,
                    password: body.password,
                })
            })
        }
    }
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

/// A JSON body that may be absent altogether (cookie-mode refresh sends none).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + Validate + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_none_or(|len| len.as_bytes() == b"0");
        if empty && !req.headers().contains_key(header::TRANSFER_ENCODING) {
            return Box::pin(async { Ok(Self(None)) });
        }
        if let Err(err) = crate::extract::require_json(req) {
            return Box::pin(std::future::ready(Err(err.into())));
        }
        let bytes = crate::extract::body_bytes(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            // `null` is the JSON for "no body", as the document declares.
            if bytes.trim_ascii() == b"null" {
                return Ok(Self(None));
            }
            Ok(Self(Some(crate::extract::decode_validated(&bytes)?)))
        })
    }
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
    let body = body.0;
    let new = Password::parse(&body.new_password)
        .map_err(|v| strata_domain::ValidationErrors::single("new_password", v))?;
    state
        .auth
        .change_password(&caller.0, &body.current_password, new)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
