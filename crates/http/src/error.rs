//! The one place where errors become RFC 9457 problem documents.
//!
//! Handlers return [`ApiError`]; service errors convert into it with an
//! exhaustive match; actix's own extractor failures are routed here through
//! the handlers in [`crate::extract`]; and the `ensure_problem` step of [`crate::middleware::Edge`]
//! rewrites any error response that still is not problem+json (405s, actix
//! internals) using the same renderer.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use strata_domain::{UniqueField, ValidationErrors};
use strata_service::ServiceError;
use strata_service::error::{OidcRejection, TokenRejection};
use utoipa::ToSchema;

use crate::context::current_request_id;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that broke a validation rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The JSON field, e.g. `email`.
    #[schema(example = "email")]
    pub field: String,
    /// A stable machine-readable rule name, e.g. `email`, `length`.
    #[schema(example = "email")]
    pub code: String,
    #[schema(example = "must be a valid e-mail address")]
    pub message: String,
}

/// An RFC 9457 problem document, the body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub problem_type: &'static str,
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "The request body failed validation.")]
    pub detail: String,
    /// A stable machine-readable error code.
    #[schema(example = "VALIDATION_FAILED")]
    pub code: &'static str,
    /// The `X-Request-Id` of the request, for support and log correlation.
    pub request_id: String,
    /// Present only for `VALIDATION_FAILED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
}

/// Every error the HTTP API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("authentication required")]
    Unauthenticated {
        /// Whether a token was presented (and refused), for `WWW-Authenticate`.
        token_presented: bool,
    },
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden,
    /// Writes need a verified address (`auth.require_verified_email`).
    #[error("e-mail address not verified")]
    EmailNotVerified,
    /// A verification or reset token that cannot be used (any reason).
    #[error("invalid account token")]
    InvalidToken,
    /// A socket ticket that cannot be used (any reason).
    #[error("invalid socket ticket")]
    InvalidTicket,
    /// A WebSocket handshake from an origin the CORS allowlist lacks.
    #[error("origin not allowed")]
    ForbiddenOrigin,
    #[error("too many sockets")]
    TooManySockets,
    #[error("not found")]
    NotFound(&'static str),
    /// An OpenID Connect callback whose state cannot be used (any reason).
    #[error("invalid sign-in state")]
    OidcState,
    /// The provider's answer proved no identity (reason for logs only).
    #[error("OpenID Connect sign-in failed: {0:?}")]
    OidcRejected(OidcRejection),
    /// An account has the provider's address: sign in and link explicitly.
    #[error("link required")]
    OidcLinkRequired,
    #[error("identity taken")]
    IdentityTaken,
    #[error("last sign-in method")]
    LastSignInMethod,
    /// The identity provider is unreachable or misbehaving.
    #[error("identity provider unavailable")]
    ProviderUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the path serves, for the `Allow` header.
        allow: Option<String>,
    },
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("precondition failed")]
    PreconditionFailed,
    /// A write that must carry `If-Match` came without it.
    #[error("precondition required")]
    PreconditionRequired,
    /// An order asked for more units than are in stock.
    #[error("out of stock")]
    OutOfStock(uuid::Uuid),
    /// An order status change the status machine forbids.
    #[error("invalid transition from {from} to {to}")]
    InvalidTransition {
        from: &'static str,
        to: &'static str,
    },
    /// An `Idempotency-Key` header that is not a valid key.
    #[error("invalid idempotency key: {0}")]
    InvalidIdempotencyKey(String),
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    #[error("idempotency key in progress")]
    IdempotencyInProgress { retry_after_secs: u64 },
    #[error("{0:?} taken")]
    Taken(UniqueField),
    #[error("payload too large")]
    PayloadTooLarge(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldProblem>),
    #[error("rate limited")]
    RateLimited(crate::throttle::Decision),
    #[error("request timed out")]
    Timeout,
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(source.into())
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "MALFORMED_REQUEST",
            Self::Unauthenticated { .. } => "UNAUTHENTICATED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::Forbidden => "FORBIDDEN",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::InvalidTicket => "INVALID_TICKET",
            Self::ForbiddenOrigin => "FORBIDDEN_ORIGIN",
            Self::TooManySockets => "TOO_MANY_SOCKETS",
            Self::NotFound(_) => "NOT_FOUND",
            Self::OidcState => "OIDC_STATE_INVALID",
            Self::OidcRejected(_) => "OIDC_LOGIN_FAILED",
            Self::OidcLinkRequired => "OIDC_LINK_REQUIRED",
            Self::IdentityTaken => "IDENTITY_TAKEN",
            Self::LastSignInMethod => "LAST_SIGN_IN_METHOD",
            Self::ProviderUnavailable(_) => "OIDC_PROVIDER_UNAVAILABLE",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::Conflict(_) => "CONFLICT",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::PreconditionRequired => "PRECONDITION_REQUIRED",
            Self::OutOfStock(_) => "OUT_OF_STOCK",
            Self::InvalidTransition { .. } => "INVALID_TRANSITION",
            Self::InvalidIdempotencyKey(_) => "INVALID_IDEMPOTENCY_KEY",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyInProgress { .. } => "IDEMPOTENCY_IN_PROGRESS",
            Self::Taken(UniqueField::Email) => "EMAIL_TAKEN",
            Self::Taken(UniqueField::Username) => "USERNAME_TAKEN",
            Self::Taken(UniqueField::Slug) => "SLUG_TAKEN",
            Self::Taken(UniqueField::Other) => "CONFLICT",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::Validation(_) => "VALIDATION_FAILED",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::Timeout | Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// What the client is told. Never includes the source of a 5xx.
    fn detail(&self) -> String {
        match self {
            Self::Malformed(why)
            | Self::PayloadTooLarge(why)
            | Self::UnsupportedMediaType(why)
            | Self::InvalidIdempotencyKey(why) => why.clone(),
            Self::Unauthenticated {
                token_presented: true,
            } => "The token is invalid, expired or revoked.".into(),
            Self::Unauthenticated {
                token_presented: false,
            } => "This endpoint requires a bearer token.".into(),
            Self::InvalidCredentials => "The credentials are not valid.".into(),
            Self::Forbidden => "You are not allowed to do this.".into(),
            Self::EmailNotVerified => "Verify your e-mail address before making changes.".into(),
            Self::InvalidToken => "The token is invalid, expired or already used.".into(),
            Self::InvalidTicket => "The ticket is unknown, expired or already used; request a new one with POST /api/v1/ws/tickets.".into(),
            Self::ForbiddenOrigin => "This origin may not open a socket.".into(),
            Self::TooManySockets => "This account has as many sockets open as allowed; close one first.".into(),
            Self::NotFound(what) => format!("{what} not found."),
            Self::OidcState => "The sign-in is unknown, already completed, expired, or was started in another browser; start again.".into(),
            Self::OidcRejected(_) => "The identity provider's answer could not be accepted; start again.".into(),
            Self::OidcLinkRequired => "An account already uses this e-mail address. Sign in to it, then link this identity from the account.".into(),
            Self::IdentityTaken => "This identity is linked to another account.".into(),
            Self::LastSignInMethod => "This is the account's last way to sign in: set a password (through a password reset) or link another identity first.".into(),
            Self::ProviderUnavailable(_) => "The identity provider is unavailable; try again later.".into(),
            Self::MethodNotAllowed { .. } => "This method is not allowed on this resource.".into(),
            Self::Conflict(why) => (*why).to_owned(),
            Self::PreconditionFailed => {
                "The resource changed since the ETag in If-Match was issued.".into()
            }
            Self::PreconditionRequired => {
                "This write must carry If-Match with the ETag of the version it replaces.".into()
            }
            Self::OutOfStock(product_id) => {
                format!("Not enough stock of product {product_id}; nothing was reserved.")
            }
            Self::InvalidTransition { from, to } => {
                format!("An order cannot go from {from} to {to}.")
            }
            Self::IdempotencyKeyReused => "This Idempotency-Key was used with another request; use a new key for a new request.".into(),
            Self::IdempotencyInProgress { retry_after_secs } => format!(
                "A request with this Idempotency-Key is still running; retry in {retry_after_secs} s."
            ),
            Self::Taken(UniqueField::Email) => "This e-mail address is already registered.".into(),
            Self::Taken(UniqueField::Username) => "This username is already taken.".into(),
            Self::Taken(UniqueField::Slug) => "This slug is already taken.".into(),
            Self::Taken(UniqueField::Other) => "The request conflicts with existing data.".into(),
            Self::Validation(_) => "The request failed validation.".into(),
            Self::RateLimited(d) => format!(
                "Too many requests; retry in {} s.",
                crate::throttle::whole_seconds(d.retry_after).max(1)
            ),
            Self::Timeout => "The request took too long and was abandoned.".into(),
            Self::Unavailable(_) => "The service is temporarily unavailable.".into(),
            Self::Internal(_) => "An internal error occurred.".into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Validation(errors) => Self::from(errors),
            ServiceError::Taken(field) => Self::Taken(field),
            ServiceError::InvalidCredentials => Self::InvalidCredentials,
            ServiceError::Unauthenticated(
                TokenRejection::Invalid
                | TokenRejection::Expired
                | TokenRejection::Revoked
                | TokenRejection::Reused
                | TokenRejection::AccountDisabled,
            ) => Self::Unauthenticated {
                token_presented: true,
            },
            ServiceError::NotFound => Self::NotFound("Resource"),
            ServiceError::OidcState => Self::OidcState,
            ServiceError::OidcRejected(why) => {
                tracing::info!(reason = why.as_str(), "OpenID Connect sign-in refused");
                Self::OidcRejected(why)
            }
            ServiceError::OidcLinkRequired => Self::OidcLinkRequired,
            ServiceError::IdentityTaken => Self::IdentityTaken,
            ServiceError::LastSignInMethod => Self::LastSignInMethod,
            ServiceError::ProviderUnavailable(source) => Self::ProviderUnavailable(source),
            ServiceError::Forbidden => Self::Forbidden,
            ServiceError::EmailNotVerified => Self::EmailNotVerified,
            ServiceError::InvalidToken => Self::InvalidToken,
            ServiceError::InvalidTicket => Self::InvalidTicket,
            ServiceError::TooManySockets => Self::TooManySockets,
            ServiceError::Conflict(why) => Self::Conflict(why),
            ServiceError::PreconditionFailed => Self::PreconditionFailed,
            ServiceError::PreconditionRequired => Self::PreconditionRequired,
            ServiceError::OutOfStock { product_id } => Self::OutOfStock(product_id),
            ServiceError::InvalidTransition { from, to } => Self::InvalidTransition { from, to },
            ServiceError::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            ServiceError::IdempotencyInProgress { retry_after_secs } => {
                Self::IdempotencyInProgress { retry_after_secs }
            }
            ServiceError::Unavailable(source) => Self::Unavailable(Box::new(source)),
            ServiceError::Overloaded => Self::Unavailable("password hashing queue is full".into()),
            err @ ServiceError::Internal { .. } => Self::Internal(Box::new(err)),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(
            errors
                .0
                .into_iter()
                .map(|e| FieldProblem {
                    field: e.field,
                    code: e.code.to_owned(),
                    message: e.message,
                })
                .collect(),
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Malformed(_)
            | Self::InvalidToken
            | Self::OidcState
            | Self::InvalidIdempotencyKey(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated { .. }
            | Self::InvalidCredentials
            | Self::InvalidTicket
            | Self::OidcRejected(_) => StatusCode::UNAUTHORIZED,
            Self::OidcLinkRequired | Self::IdentityTaken | Self::LastSignInMethod => {
                StatusCode::CONFLICT
            }
            Self::ProviderUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::Forbidden | Self::EmailNotVerified | Self::ForbiddenOrigin => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_)
            | Self::IdempotencyInProgress { .. }
            | Self::OutOfStock(_)
            | Self::InvalidTransition { .. } => StatusCode::CONFLICT,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Taken(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) | Self::TooManySockets => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let request_id = current_request_id();
        if status.is_server_error() {
            tracing::error!(
                request_id = %request_id,
                code = self.code(),
                error = %ErrorChain(self),
                "request failed"
            );
        }
        let errors = match self {
            Self::Validation(errors) => Some(errors.clone()),
            _ => None,
        };
        let mut response = render(status, self.code(), self.detail(), request_id, errors);
        if let Self::RateLimited(decision) = self {
            crate::throttle::set_headers(response.headers_mut(), decision);
            let retry = crate::throttle::whole_seconds(decision.retry_after).max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry));
        }
        if let Self::IdempotencyInProgress { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let Self::MethodNotAllowed { allow: Some(allow) } = self
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        if let Self::Unauthenticated { token_presented } = self {
            let challenge = if *token_presented {
                r#"Bearer error="invalid_token""#
            } else {
                "Bearer"
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Renders a problem document. Exposed for the safety net that converts
/// responses produced outside handlers.
pub fn render(
    status: StatusCode,
    code: &'static str,
    detail: String,
    request_id: String,
    errors: Option<Vec<FieldProblem>>,
) -> HttpResponse {
    let problem = Problem {
        problem_type: "about:blank",
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code,
        request_id,
        errors,
    };
    HttpResponse::build(status)
        .content_type(PROBLEM_JSON)
        .json(problem)
}

pub use strata_service::error::ErrorChain;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body(err: ApiError) -> (StatusCode, serde_json::Value, HttpResponse<()>) {
        let response = err.error_response();
        let status = response.status();
        let (head, body) = response.into_parts();
        let bytes = to_bytes(body).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), head)
    }

    #[actix_web::test]
    async fn a_500_says_nothing_of_its_cause() {
        let (status, json, _) = body(ApiError::internal("database password is hunter2")).await;
        assert_eq!(status, 500);
        assert_eq!(json["code"], "INTERNAL");
        assert!(!json.to_string().contains("hunter2"));
    }

    #[actix_web::test]
    async fn validation_problems_list_each_field() {
        let (status, json, head) = body(ApiError::Validation(vec![FieldProblem {
            field: "email".into(),
            code: "email".into(),
            message: "bad".into(),
        }]))
        .await;
        assert_eq!(status, 422);
        assert_eq!(head.headers().get("content-type").unwrap(), PROBLEM_JSON);
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "Unprocessable Entity");
        assert_eq!(json["status"], 422);
        assert_eq!(json["errors"][0]["field"], "email");
    }

    #[actix_web::test]
    async fn unauthenticated_answers_carry_a_bearer_challenge() {
        let (_, json, head) = body(ApiError::Unauthenticated {
            token_presented: false,
        })
        .await;
        assert_eq!(json["code"], "UNAUTHENTICATED");
        assert_eq!(head.headers().get("www-authenticate").unwrap(), "Bearer");
        assert!(json.get("errors").is_none());
    }

    #[test]
    fn every_service_error_maps_to_the_contracts_code() {
        let cases = [
            (ServiceError::InvalidCredentials, "INVALID_CREDENTIALS", 401),
            (ServiceError::Taken(UniqueField::Email), "EMAIL_TAKEN", 409),
            (
                ServiceError::Taken(UniqueField::Username),
                "USERNAME_TAKEN",
                409,
            ),
            (
                ServiceError::Unauthenticated(TokenRejection::Reused),
                "UNAUTHENTICATED",
                401,
            ),
            (ServiceError::NotFound, "NOT_FOUND", 404),
            (ServiceError::OidcState, "OIDC_STATE_INVALID", 400),
            (
                ServiceError::OidcRejected(OidcRejection::Nonce),
                "OIDC_LOGIN_FAILED",
                401,
            ),
            (ServiceError::OidcLinkRequired, "OIDC_LINK_REQUIRED", 409),
            (ServiceError::IdentityTaken, "IDENTITY_TAKEN", 409),
            (ServiceError::LastSignInMethod, "LAST_SIGN_IN_METHOD", 409),
            (
                ServiceError::ProviderUnavailable("down".into()),
                "OIDC_PROVIDER_UNAVAILABLE",
                502,
            ),
            (ServiceError::Taken(UniqueField::Slug), "SLUG_TAKEN", 409),
            (
                ServiceError::PreconditionRequired,
                "PRECONDITION_REQUIRED",
                428,
            ),
            (
                ServiceError::OutOfStock {
                    product_id: uuid::Uuid::nil(),
                },
                "OUT_OF_STOCK",
                409,
            ),
            (
                ServiceError::InvalidTransition {
                    from: "delivered",
                    to: "cancelled",
                },
                "INVALID_TRANSITION",
                409,
            ),
            (ServiceError::internal("x", "y"), "INTERNAL", 500),
        ];
        for (err, code, status) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.code(), code);
            assert_eq!(api.status_code().as_u16(), status);
        }
    }

    #[test]
    fn the_error_chain_lists_every_cause() {
        let err = ApiError::from(ServiceError::internal("Failed to insert user", "disk full"));
        let text = ErrorChain(&err).to_string();
        assert!(
            text.contains("Failed to insert user") && text.contains("disk full"),
            "{text}"
        );
    }
}
