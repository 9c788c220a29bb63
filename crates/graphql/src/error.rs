//! The one place where failures become GraphQL errors (a resolver's
//! [`ServiceError`]) or problem documents (the transport's refusals).
//!
//! `extensions.code` is the REST API's problem `code` for the same failure,
//! and a validation failure lists the same `{field, code, message}` entries
//! under `extensions.errors`, so a client handles both APIs alike.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use async_graphql::{Error, ErrorExtensions, Value};
use serde::Serialize;
use strata_domain::{UniqueField, ValidationErrors};
use strata_service::ServiceError;
use strata_service::error::ErrorChain;

/// The code and message of a service failure. Server-side failures are
/// logged here with their cause chain and told to the client in general
/// terms only.
fn describe(err: &ServiceError) -> (&'static str, String) {
    match err {
        ServiceError::Validation(_) => {
            ("VALIDATION_FAILED", "The request failed validation.".into())
        }
        ServiceError::Taken(UniqueField::Email) => (
            "EMAIL_TAKEN",
            "This e-mail address is already registered.".into(),
        ),
        ServiceError::Taken(UniqueField::Username) => {
            ("USERNAME_TAKEN", "This username is already taken.".into())
        }
        ServiceError::Taken(UniqueField::Slug) => {
            ("SLUG_TAKEN", "This slug is already taken.".into())
        }
        ServiceError::Taken(UniqueField::Other) => (
            "CONFLICT",
            "The request conflicts with existing data.".into(),
        ),
        ServiceError::InvalidCredentials => (
            "INVALID_CREDENTIALS",
            "The credentials are not valid.".into(),
        ),
        ServiceError::Unauthenticated(_) => (
            "UNAUTHENTICATED",
            "The token is invalid, expired or revoked.".into(),
        ),
        ServiceError::Forbidden => ("FORBIDDEN", "You are not allowed to do this.".into()),
        ServiceError::EmailNotVerified => (
            "EMAIL_NOT_VERIFIED",
            "Verify your e-mail address before making changes.".into(),
        ),
        ServiceError::InvalidToken => (
            "INVALID_TOKEN",
            "The token is invalid, expired or already used.".into(),
        ),
        ServiceError::InvalidTicket => ("INVALID_TICKET", "The ticket is not valid.".into()),
        ServiceError::TooManySockets => ("TOO_MANY_SOCKETS", "Too many sockets.".into()),
        ServiceError::NotFound => ("NOT_FOUND", "Resource not found.".into()),
        ServiceError::OidcState => ("OIDC_STATE_INVALID", "The sign-in is not valid.".into()),
        ServiceError::OidcRejected(_) => ("OIDC_LOGIN_FAILED", "The sign-in was refused.".into()),
        ServiceError::OidcLinkRequired => (
            "OIDC_LINK_REQUIRED",
            "An account already uses this e-mail address.".into(),
        ),
        ServiceError::IdentityTaken => (
            "IDENTITY_TAKEN",
            "This identity is linked to another account.".into(),
        ),
        ServiceError::LastSignInMethod => (
            "LAST_SIGN_IN_METHOD",
            "This is the account's last way to sign in.".into(),
        ),
        ServiceError::Conflict(why) => ("CONFLICT", (*why).to_owned()),
        ServiceError::PreconditionFailed => (
            "PRECONDITION_FAILED",
            "The resource changed since the expected version.".into(),
        ),
        ServiceError::PreconditionRequired => (
            "PRECONDITION_REQUIRED",
            "This write must name the version it replaces.".into(),
        ),
        ServiceError::OutOfStock { product_id } => (
            "OUT_OF_STOCK",
            format!("Not enough stock of product {product_id}; nothing was reserved."),
        ),
        ServiceError::InvalidTransition { from, to } => (
            "INVALID_TRANSITION",
            format!("An order cannot go from {from} to {to}."),
        ),
        ServiceError::IdempotencyKeyReused => (
            "IDEMPOTENCY_KEY_REUSED",
            "This idempotency key was used with another request.".into(),
        ),
        ServiceError::IdempotencyInProgress { retry_after_secs } => (
            "IDEMPOTENCY_IN_PROGRESS",
            format!(
                "A request with this idempotency key is still running; retry in {retry_after_secs} s."
            ),
        ),
        ServiceError::ProviderUnavailable(_)
        | ServiceError::Overloaded
        | ServiceError::Unavailable(_) => {
            tracing::warn!(error = %ErrorChain(err), "GraphQL resolver: a dependency is unavailable");
            (
                "SERVICE_UNAVAILABLE",
                "The service is temporarily unavailable.".into(),
            )
        }
        ServiceError::Internal { .. } => {
            tracing::error!(error = %ErrorChain(err), "GraphQL resolver failed");
            ("INTERNAL", "An internal error occurred.".into())
        }
    }
}

/// A service failure as a GraphQL error.
pub(crate) fn service(err: ServiceError) -> Error {
    if let ServiceError::Validation(errors) = err {
        return validation(errors);
    }
    let (code, message) = describe(&err);
    coded(code, message)
}

/// The same failure shared by several fields (a DataLoader's batch).
pub(crate) fn shared(err: &ServiceError) -> Error {
    let (code, message) = describe(err);
    coded(code, message)
}

/// Field problems as one error: `extensions.errors` lists every field.
pub(crate) fn validation(errors: ValidationErrors) -> Error {
    let fields: Vec<Value> = errors
        .0
        .into_iter()
        .map(|e| {
            let mut entry = async_graphql::indexmap::IndexMap::new();
            entry.insert(async_graphql::Name::new("field"), Value::from(e.field));
            entry.insert(async_graphql::Name::new("code"), Value::from(e.code));
            entry.insert(async_graphql::Name::new("message"), Value::from(e.message));
            Value::Object(entry)
        })
        .collect();
    Error::new("The request failed validation.").extend_with(|_, ext| {
        ext.set("code", "VALIDATION_FAILED");
        ext.set("errors", Value::List(fields.clone()));
    })
}

/// Neither or both of two arguments that name the same thing two ways.
pub(crate) fn one_of(first: &str, second: &str) -> Error {
    validation(ValidationErrors::single(
        first,
        strata_domain::validation::Violation::new(
            "one_of",
            format!("give exactly one of {first} and {second}"),
        ),
    ))
}

pub(crate) fn unauthenticated() -> Error {
    coded(
        "UNAUTHENTICATED",
        "This field requires a bearer token.".to_owned(),
    )
}

fn coded(code: &'static str, message: String) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// RFC 9457, as `/api/v1` writes it.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    problem_type: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    request_id: String,
}

/// A refusal of the transport (body, method, batch, token), before any
/// GraphQL runs.
pub(crate) fn problem(
    status: StatusCode,
    code: &str,
    detail: &str,
    request_id: String,
) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(Problem {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code,
            request_id,
        })
}
