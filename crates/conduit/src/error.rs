//! The one place errors become Conduit's answers:
//! `{"errors":{"<field>":["<message>"]}}` with the status the RealWorld
//! spec gives. Handlers return [`ConduitError`] and never build error JSON.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;

use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use strata_domain::{UniqueField, ValidationErrors};
use strata_service::ServiceError;

/// What a failed service call was about: names the field of a 404, a 403
/// or an unexpected conflict, since a bare `NotFound` does not say what
/// was missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Article,
    Comment,
    Profile,
    User,
}

impl Subject {
    fn field(self) -> &'static str {
        match self {
            Self::Article => "article",
            Self::Comment => "comment",
            Self::Profile => "profile",
            Self::User => "user",
        }
    }
}

/// Why a request failed, as Conduit's clients are told.
#[derive(Debug, thiserror::Error)]
pub enum ConduitError {
    /// Fields that break a rule (422), named as Strata's domain names them.
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// A body that is not JSON or not of the expected shape (422).
    #[error("malformed body: {0}")]
    Body(String),
    /// A query string of the wrong shape (422).
    #[error("malformed query: {0}")]
    Query(String),
    /// A body over [`crate::BODY_LIMIT`] (413).
    #[error("body too large")]
    TooLarge,
    /// A protected route without `Authorization` (401).
    #[error("token missing")]
    TokenMissing,
    /// A token that is malformed, expired or revoked (401).
    #[error("token invalid")]
    TokenInvalid,
    /// Login with an unknown e-mail or a wrong password (401).
    #[error("invalid credentials")]
    Credentials,
    /// A spent rate-limit budget (429), with the seconds to wait.
    #[error("rate limited for {0}s")]
    Throttled(u64),
    #[error("{} not found", .0.field())]
    NotFound(Subject),
    #[error("{} forbidden", .0.field())]
    Forbidden(Subject),
    /// A unique field already in use (409), by its Conduit name.
    #[error("{0} taken")]
    Taken(&'static str),
    /// A business rule the request contradicts (409).
    #[error("conflict on {}: {}", .0.field(), .1)]
    Conflict(Subject, &'static str),
    /// The service is saturated or a dependency is down (503): worth a
    /// retry, unlike a 500.
    #[error("service unavailable")]
    Unavailable(#[source] ServiceError),
    /// Anything else: a bug or a failure the client cannot act on (500).
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl ConduitError {
    /// Maps a service failure, naming `subject` in a 404, 403 or 409.
    /// Exhaustive, so a new [`ServiceError`] variant forces a decision here.
    pub fn service(err: ServiceError, subject: Subject) -> Self {
        match err {
            ServiceError::Validation(errors) => Self::Validation(errors),
            ServiceError::Taken(UniqueField::Email) => Self::Taken("email"),
            ServiceError::Taken(UniqueField::Username) => Self::Taken("username"),
            ServiceError::Taken(UniqueField::Slug | UniqueField::Other) => {
                Self::Taken(subject.field())
            }
            ServiceError::InvalidCredentials => Self::Credentials,
            ServiceError::Unauthenticated(_) => Self::TokenInvalid,
            ServiceError::Forbidden | ServiceError::EmailNotVerified => Self::Forbidden(subject),
            ServiceError::NotFound => Self::NotFound(subject),
            ServiceError::Conflict(why) => Self::Conflict(subject, why),
            err @ (ServiceError::Overloaded | ServiceError::Unavailable(_)) => {
                Self::Unavailable(err)
            }
            // Nothing Conduit calls answers these (no account tokens,
            // sockets, OpenID, catalog, orders, idempotency keys or
            // preconditions): reaching one is a bug, not the client's doing.
            err @ (ServiceError::InvalidToken
            | ServiceError::InvalidTicket
            | ServiceError::TooManySockets
            | ServiceError::OidcState
            | ServiceError::OidcRejected(_)
            | ServiceError::OidcLinkRequired
            | ServiceError::IdentityTaken
            | ServiceError::LastSignInMethod
            | ServiceError::ProviderUnavailable(_)
            | ServiceError::PreconditionRequired
            | ServiceError::PreconditionFailed
            | ServiceError::OutOfStock { .. }
            | ServiceError::InvalidTransition { .. }
            | ServiceError::IdempotencyKeyReused
            | ServiceError::IdempotencyInProgress { .. }
            | ServiceError::Internal { .. }) => Self::Internal(Box::new(err)),
        }
    }

    /// The field and message of the body, or `None` for a validation
    /// failure, which lists its own.
    fn message(&self) -> Option<(&'static str, String)> {
        let fixed = |field, message: &str| Some((field, message.to_owned()));
        match self {
            Self::Validation(_) => None,
            Self::Body(reason) => Some(("body", reason.clone())),
            Self::Query(reason) => Some(("query", reason.clone())),
            Self::TooLarge => fixed("body", "is too large"),
            Self::TokenMissing => fixed("token", "is missing"),
            Self::TokenInvalid => fixed("token", "is invalid"),
            Self::Credentials => fixed("credentials", "invalid"),
            Self::Throttled(_) => fixed("rate", "too many requests"),
            Self::NotFound(subject) => fixed(subject.field(), "not found"),
            Self::Forbidden(subject) => fixed(subject.field(), "forbidden"),
            Self::Taken(field) => fixed(field, "has already been taken"),
            Self::Conflict(subject, why) => fixed(subject.field(), why),
            Self::Unavailable(_) => fixed("server", "temporarily unavailable"),
            Self::Internal(_) => fixed("server", "internal error"),
        }
    }
}

/// Extension for service results: `.about(Subject::Article)?`.
pub trait About<T> {
    /// # Errors
    /// The service error mapped by [`ConduitError::service`].
    fn about(self, subject: Subject) -> Result<T, ConduitError>;
}

impl<T> About<T> for Result<T, ServiceError> {
    fn about(self, subject: Subject) -> Result<T, ConduitError> {
        self.map_err(|err| ConduitError::service(err, subject))
    }
}

/// Conduit's field names where Strata's domain uses another.
fn conduit_field(field: &str) -> &str {
    match field {
        "tags" => "tagList",
        other => other,
    }
}

#[derive(Serialize)]
struct ErrorBody {
    errors: BTreeMap<String, Vec<String>>,
}

impl ResponseError for ConduitError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::Body(_) | Self::Query(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TokenMissing | Self::TokenInvalid | Self::Credentials => StatusCode::UNAUTHORIZED,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Taken(_) | Self::Conflict(..) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // The client gets a fixed message; the cause goes to the log only.
            tracing::error!(status = status.as_u16(), error = %Chain(self), "conduit request failed");
        }
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        match (self, self.message()) {
            (Self::Validation(fields), _) => {
                for error in &fields.0 {
                    errors
                        .entry(conduit_field(&error.field).to_owned())
                        .or_default()
                        .push(error.message.clone());
                }
            }
            (_, Some((field, message))) => {
                errors.insert(field.to_owned(), vec![message]);
            }
            (_, None) => {}
        }
        let mut response = HttpResponse::build(status);
        match self {
            Self::Throttled(secs) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from((*secs).max(1))));
            }
            Self::Unavailable(ServiceError::Overloaded) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(1_u64)));
            }
            Self::TokenMissing | Self::TokenInvalid => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Token")));
            }
            _ => {}
        }
        response.json(ErrorBody { errors })
    }
}

impl From<JsonPayloadError> for ConduitError {
    fn from(err: JsonPayloadError) -> Self {
        match err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                Self::TooLarge
            }
            JsonPayloadError::Payload(PayloadError::Overflow) => Self::TooLarge,
            JsonPayloadError::ContentType => Self::Body("must be sent as application/json".into()),
            JsonPayloadError::Deserialize(err) => Self::Body(short_reason(&err)),
            JsonPayloadError::Payload(_) => Self::Body("could not be read".into()),
            // Serialising is not extraction's business; anything new is
            // reported without detail.
            _ => Self::Body("could not be read".into()),
        }
    }
}

impl From<QueryPayloadError> for ConduitError {
    fn from(err: QueryPayloadError) -> Self {
        match err {
            QueryPayloadError::Deserialize(err) => Self::Query(err.to_string()),
            _ => Self::Query("could not be read".into()),
        }
    }
}

/// serde_json's message without its "at line 1 column 9", which means
/// nothing to a client that sent one line.
fn short_reason(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => "is not valid JSON".to_owned(),
        Category::Data => {
            let text = err.to_string();
            match text.rfind(" at line ") {
                Some(at) => text[..at].to_owned(),
                None => text,
            }
        }
    }
}

/// An error and every `source()` below it, one per line.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
