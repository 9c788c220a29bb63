//! Extractors: the authenticated caller, validated JSON bodies, and the error
//! handlers that turn actix's own extractor failures into problem documents.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{PathError, PayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;
use strata_domain::auth::Principal;
use validator::Validate;

use crate::AppState;
use crate::bearer::bearer_token;
use crate::context::AuthenticatedUser;
use crate::error::{ApiError, FieldProblem};

/// The caller, authenticated from `Authorization: Bearer <access token>`.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

/// The caller when a bearer token is presented, `None` for an anonymous
/// request: public reads that show admins more. A token that is presented
/// but refused is still 401, never silently anonymous.
#[derive(Debug, Clone, Copy)]
pub struct MaybeAuthenticated(pub Option<Principal>);

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let anonymous = req.extensions().get::<Principal>().is_none()
            && req.headers().get(header::AUTHORIZATION).is_none();
        std::future::ready(if anonymous {
            Ok(Self(None))
        } else {
            authenticate(req).map(|Authenticated(principal)| Self(Some(principal)))
        })
    }
}

/// A caller allowed to write content: authenticated, and with a verified
/// address when `auth.require_verified_email` is on (else 403
/// `EMAIL_NOT_VERIFIED`). Account upkeep (profile, password, verification,
/// logout) takes [`Authenticated`] instead, so an unverified account can
/// still fix its address.
#[derive(Debug, Clone, Copy)]
pub struct Writer(pub Principal);

impl FromRequest for Writer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let Authenticated(principal) = caller?;
            let state = state.ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            state.accounts.ensure_may_write(&principal).await?;
            Ok(Self(principal))
        })
    }
}

/// Authenticates the request's bearer token (once: the rate limiter may
/// already have verified it and left the principal in the extensions).
///
/// # Errors
/// [`ApiError::Unauthenticated`].
pub fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    let verified = req.extensions().get::<Principal>().copied();
    if let Some(principal) = verified {
        req.extensions_mut()
            .insert(AuthenticatedUser(principal.user_id));
        return Ok(Authenticated(principal));
    }
    let token = bearer_token(req).ok_or(ApiError::Unauthenticated {
        token_presented: false,
    })?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
    let principal = state.auth.authenticate(token)?;
    req.extensions_mut()
        .insert(AuthenticatedUser(principal.user_id));
    Ok(Authenticated(principal))
}

/// A JSON body that has been decoded (see [`crate::body`] for the order in
/// which syntax, NUL characters and shape are judged) and then validated;
/// failures answer 422 listing every field.
#[derive(Debug)]
pub struct ValidatedJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidatedJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Err(err) = require_json(req) {
            return Box::pin(std::future::ready(Err(err)));
        }
        let bytes = body_bytes(req, payload);
        Box::pin(async move { decode_validated(&bytes.await?).map(Self) })
    }
}

/// Decodes and validates a JSON body already read.
///
/// # Errors
/// As [`crate::body::decode_json`], then 422 for rule violations.
pub fn decode_validated<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    let body: T = crate::body::decode_json(bytes)?;
    body.validate().map_err(validation_problem)?;
    Ok(body)
}

/// The refusal of a body that does not declare itself JSON.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    if is_json(req) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "The request body must be application/json.".into(),
        ))
    }
}

/// The refusal of a body that is not CSV text in UTF-8: `text/csv`, whose
/// `charset`, when one is named, is UTF-8 (or its subset US-ASCII).
pub fn require_csv(req: &HttpRequest) -> Result<(), ApiError> {
    let csv = media_type(req).is_some_and(|(kind, subtype, params)| {
        kind.eq_ignore_ascii_case("text")
            && subtype.eq_ignore_ascii_case("csv")
            && params
                .split(';')
                .filter_map(|param| param.split_once('='))
                .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
                .all(|(_, value)| {
                    let value = value.trim().trim_matches('"');
                    ["utf-8", "utf8", "us-ascii"]
                        .iter()
                        .any(|known| value.eq_ignore_ascii_case(known))
                })
    });
    if csv {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "The request body must be text/csv in UTF-8.".into(),
        ))
    }
}

/// The type, subtype and parameters of the request's `Content-Type`.
fn media_type(req: &HttpRequest) -> Option<(&str, &str, &str)> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let (essence, params) = value.split_once(';').unwrap_or((value, ""));
    let (kind, subtype) = essence.trim().split_once('/')?;
    Some((kind, subtype, params))
}

/// Whether the request declares a JSON body (`application/json` or a
/// `+json` type, any parameters).
fn is_json(req: &HttpRequest) -> bool {
    media_type(req).is_some_and(|(kind, subtype, _)| {
        kind.eq_ignore_ascii_case("application")
            && (subtype.eq_ignore_ascii_case("json")
                || subtype
                    .get(subtype.len().saturating_sub(5)..)
                    .is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json")))
    })
}

/// The whole body, bounded by the `PayloadConfig` limit (a `Content-Length`
/// over it is refused before anything is read).
pub fn body_bytes(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<web::Bytes, ApiError>> + use<> {
    let bytes = web::Bytes::from_request(req, payload);
    async move {
        bytes
            .await
            .map_err(|err| match err.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => {
                    ApiError::PayloadTooLarge("The request body is too large.".into())
                }
                _ => ApiError::Malformed(format!("The request body could not be read: {err}")),
            })
    }
}

/// The whole body up to `limit` bytes, decoded as its `Content-Encoding`
/// says, for routes that take more than the JSON limit (uploads). A
/// `Content-Length` over the limit is refused before anything is read.
///
/// # Errors
/// [`ApiError::PayloadTooLarge`] past `limit`; [`ApiError::Malformed`] for
/// a body that cannot be read or decoded.
pub async fn bounded_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "The request body is too large: the limit is {limit} bytes."
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(8 * 1024, |length| {
        usize::try_from(length).map_or(limit, |length| length.min(limit))
    });
    let mut body = Vec::with_capacity(capacity);
    let mut stream = std::pin::pin!(actix_web::dev::Decompress::from_headers(
        payload.into_inner(),
        req.headers()
    ));
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|err| {
            ApiError::Malformed(format!("The request body could not be read: {err}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub fn validation_problem(errors: validator::ValidationErrors) -> ApiError {
    let mut problems: Vec<FieldProblem> = errors
        .field_errors()
        .into_iter()
        .flat_map(|(field, errors)| {
            errors.iter().map(move |e| FieldProblem {
                field: field.to_string(),
                code: e.code.to_string(),
                message: e
                    .message
                    .as_ref()
                    .map_or_else(|| e.code.to_string(), ToString::to_string),
            })
        })
        .collect();
    problems.sort_by(|a, b| a.field.cmp(&b.field));
    ApiError::Validation(problems)
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::Malformed(format!("Invalid query string: {err}")).into()
}

/// A path parameter that does not parse is 400, unless the path is also a
/// literal route (`/users/stats` against `/users/{id}`): the router only got
/// here because that route does not serve this method, so it is 405.
pub fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    let literal = req
        .app_data::<web::Data<crate::methods::KnownPaths>>()
        .and_then(|known| known.literal(req.path()));
    match literal {
        Some(allow) => ApiError::MethodNotAllowed { allow: Some(allow) }.into(),
        None => ApiError::Malformed(format!("Invalid path parameter: {err}")).into(),
    }
}
