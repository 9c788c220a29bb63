//! `/api/v1/auth/verify-email*` and `/api/v1/auth/password-reset*`: proving
//! an address and regaining an account through it.
//!
//! The mails link to the client (`app.public_url`) with the token in the
//! URL fragment, which browsers never send to a server or in a `Referer`;
//! the client posts the token here.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::users::{Email, Password};
use strata_service::tokens::hash_refresh_token;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::rate_limit::RateLimits;
use crate::validation;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(verify_email)
        .service(resend_verification)
        .service(request_password_reset)
        .service(confirm_password_reset);
}

/// A token from a verification or reset mail.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The value after `#token=` in the mailed link.
    #[validate(custom(function = "validation::account_token"))]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub token: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[validate(custom(function = "validation::email"))]
    #[schema(example = "ada@example.com", max_length = 254, format = Email)]
    pub email: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirmRequest {
    /// The value after `#token=` in the mailed link.
    #[validate(custom(function = "validation::account_token"))]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub token: String,
    #[validate(custom(function = "validation::password"))]
    #[schema(format = Password, min_length = 8, max_length = 128, pattern = "^([^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z])[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub new_password: String,
}

impl PasswordResetRequest {
    fn try_into_domain(&self) -> Result<Email, ValidationErrors> {
        Email::parse(&self.email).map_err(|v| ValidationErrors::single("email", v))
    }
}

impl PasswordResetConfirmRequest {
    /// The token, as sent, and the new password.
    fn try_into_domain(self) -> Result<(String, Password), ValidationErrors> {
        let new = Password::parse(&self.new_password)
            .map_err(|v| ValidationErrors::single("new_password", v))?;
        Ok((self.token, new))
    }
}

/// The answer to a request whose mail goes out later (if at all).
#[derive(Debug, Serialize, ToSchema)]
pub struct MailAccepted {
    #[schema(example = "If an account has this address, a message is on its way to it.")]
    pub message: &'static str,
}

/// Identical for every address, known or not: the answer must not tell.
const RESET_ACCEPTED: MailAccepted = MailAccepted {
    message: "If an account has this address, a message is on its way to it.",
};

/// The rate-limit subject of a token: its hash, so the limiter's store never
/// holds a usable secret.
fn token_subject(kind: &str, token: &str) -> String {
    format!("{kind}:{}", &hash_refresh_token(token)[..32])
}

/// Verify the caller's e-mail address with the token from the verification
/// mail. Needs no bearer token: the link may be opened on another device.
#[utoipa::path(
    tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "The address the mail was sent to is verified"),
        (status = 400, description = "`MALFORMED_REQUEST` for a body that is not JSON; `INVALID_TOKEN` for a token that is unknown, already used, superseded by a newer mail, expired (48 h), or sent to an address the account no longer has", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED` (per IP and per token), with `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/verify-email")]
pub async fn verify_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    body: ValidatedJson<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.0.token;
    limits
        .check_credentials(&req, &[token_subject("verify", &token)], true)
        .await?;
    state.accounts.verify_email(&token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mail the caller a new verification link; earlier links stop working.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 202, description = "A new verification mail is queued", body = MailAccepted),
        (status = 409, description = "`CONFLICT`: the address is already verified", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED` (per IP and per account), with `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/verify-email/resend")]
pub async fn resend_verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    limits
        .check_credentials(&req, &[format!("resend:{}", caller.0.user_id)], true)
        .await?;
    state.accounts.resend_verification(&caller.0).await?;
    Ok(HttpResponse::Accepted().json(MailAccepted {
        message: "A new verification message is on its way.",
    }))
}

/// Ask for a password reset link. The answer is the same, in status, body
/// and the work behind it, whether or not an account has the address.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Always, for any well-formed address", body = MailAccepted),
        (status = 429, description = "`RATE_LIMITED` (per IP and per address), with `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password-reset")]
pub async fn request_password_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    body: ValidatedJson<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = body.0.try_into_domain()?;
    limits
        .check_credentials(&req, &[format!("reset:{}", email.as_str())], true)
        .await?;
    state.accounts.request_password_reset(&email).await?;
    Ok(HttpResponse::Accepted().json(RESET_ACCEPTED))
}

/// Set a new password with the token from a reset mail. Every session of
/// the account is revoked; the token cannot be used again.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetConfirmRequest,
    responses(
        (status = 204, description = "Password set; every session of the account is logged out"),
        (status = 400, description = "`MALFORMED_REQUEST` for a body that is not JSON; `INVALID_TOKEN` for a token that is unknown, already used, superseded by a newer mail, or expired (1 h)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED` (per IP and per token), with `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_password_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    body: ValidatedJson<PasswordResetConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    limits
        .check_credentials(&req, &[token_subject("reset-token", &body.token)], true)
        .await?;
    let (token, new) = body.try_into_domain()?;
    state.accounts.reset_password(&token, new).await?;
    Ok(HttpResponse::NoContent().finish())
}
