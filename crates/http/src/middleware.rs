//! The edge middleware every response passes through: request ids, security
//! headers, the problem+json safety net and the access log. One layer rather
//! than four keeps the per-request cost to a single future and no boxing for
//! successful responses.

use std::time::{Duration, Instant};

use tracing::Instrument as _;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use uuid::Uuid;

use crate::error::{ApiError, PROBLEM_JSON, render};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

const API_CSP: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
/// Swagger UI needs its own scripts, styles and inline SVG; still nothing
/// from any other origin.
const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
);

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, or `""` outside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Settings of the edge layer, computed once at start-up.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// `Strict-Transport-Security` value, when HSTS is on.
    pub hsts: Option<HeaderValue>,
    /// A handler still running after this is abandoned with a 503.
    pub request_timeout: Duration,
    /// Bodies smaller than this are sent uncompressed: compression would cost
    /// more CPU than the bytes it saves.
    pub compress_min_bytes: u64,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            hsts: None,
            request_timeout: Duration::from_secs(30),
            compress_min_bytes: 1024,
        }
    }
}

impl EdgeConfig {
    pub fn new(hsts_max_age_secs: Option<u64>) -> Self {
        let hsts = hsts_max_age_secs.and_then(|age| {
            HeaderValue::from_str(&format!("max-age={age}; includeSubDomains")).ok()
        });
        Self {
            hsts,
            ..Self::default()
        }
    }
}

/// Keeps a client's id when it is a sane token, so ids can be correlated
/// across services without letting anyone inject text into logs.
fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID_HEADER)?.to_str().ok()?;
    let valid = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then(|| value.to_owned())
}

/// Marker put in request extensions by the auth extractor, for the access log.
#[derive(Debug, Clone, Copy)]
pub struct AuthenticatedUser(pub Uuid);

pub async fn edge(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let request_id = incoming_request_id(&req).unwrap_or_else(|| Uuid::now_v7().to_string());
    let started = Instant::now();
    let method = req.method().clone();
    let docs = req.path().starts_with("/docs");
    let (hsts, timeout) = req
        .app_data::<web::Data<EdgeConfig>>()
        .map_or((None, Duration::from_secs(30)), |c| {
            (c.hsts.clone(), c.request_timeout)
        });

    let span = tracing::info_span!("request", request_id = %request_id, method = %method);
    let outcome = REQUEST_ID
        .scope(
            request_id.clone(),
            async move {
                // The handler timeout lives here rather than in a layer of its
                // own: one middleware less on every request.
                let outcome = match tokio::time::timeout(timeout, next.call(req)).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        tracing::warn!(
                            timeout_secs = timeout.as_secs_f64(),
                            "request abandoned after the handler timeout"
                        );
                        Err(ApiError::Timeout.into())
                    }
                };
                match outcome {
                    Ok(response) => Ok(ensure_problem(response)),
                    // An error escaping inner middleware is rendered here, inside
                    // the scope, so its problem body carries this request's id.
                    Err(err) => Err(err.error_response()),
                }
            }
            .instrument(span),
        )
        .await;

    match outcome {
        Ok(mut response) => {
            edge_headers(response.headers_mut(), &request_id, docs, hsts);
            // The marker `uncompressed_small_bodies` set to keep Compress away.
            if response
                .headers()
                .get(header::CONTENT_ENCODING)
                .is_some_and(|v| v == "identity")
            {
                response.headers_mut().remove(header::CONTENT_ENCODING);
            }
            let request = response.request();
            let route = request.match_pattern();
            access_log(
                &request_id,
                &method,
                route.as_deref(),
                response.status(),
                started,
                || request.extensions().get::<AuthenticatedUser>().map(|u| u.0),
            );
            Ok(response)
        }
        Err(mut response) => {
            edge_headers(response.headers_mut(), &request_id, docs, hsts);
            access_log(
                &request_id,
                &method,
                None,
                response.status(),
                started,
                || None,
            );
            Err(InternalError::from_response("request failed in middleware", response).into())
        }
    }
}

fn edge_headers(headers: &mut HeaderMap, request_id: &str, docs: bool, hsts: Option<HeaderValue>) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        if docs { DOCS_CSP } else { API_CSP },
    );
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
}

fn access_log(
    request_id: &str,
    method: &Method,
    route: Option<&str>,
    status: StatusCode,
    started: Instant,
    user_id: impl FnOnce() -> Option<Uuid>,
) {
    let seconds = started.elapsed().as_secs_f64();
    crate::metrics::record_request(
        method,
        route.unwrap_or("<unmatched>"),
        status.as_u16(),
        seconds,
    );
    if !tracing::enabled!(target: "strata::access", tracing::Level::INFO) {
        return;
    }
    let user_id = user_id();
    tracing::info!(
        target: "strata::access",
        request_id,
        method = %method,
        route = route.unwrap_or("<unmatched>"),
        status = status.as_u16(),
        latency_ms = seconds * 1000.0,
        user_id = user_id.map(|u| u.to_string()).as_deref().unwrap_or("-"),
        "request"
    );
}

/// Replaces any error response that is not already problem+json (a 405 from
/// the router, a 404 for an unknown route, an actix internal error) with one,
/// so clients can rely on the error format everywhere.
fn ensure_problem<B>(response: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let status = response.status();
    // Handlers answer errors in JSON already (problem+json, or the readiness
    // report); only bodies from outside them (router, actix internals) are not.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|ct| ct.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON) || ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response.map_into_left_body();
    }
    let replacement = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound("Route").error_response(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.error_response(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("The request body is too large.".into()).error_response()
        }
        other if other.is_server_error() => {
            ApiError::internal(format!("unrendered {other} response")).error_response()
        }
        other => render(
            other,
            "MALFORMED_REQUEST",
            other.canonical_reason().unwrap_or("Bad request").to_owned(),
            current_request_id(),
            None,
        ),
    };
    let (req, original) = response.into_parts();
    let mut replacement = replacement;
    // Keep headers such as `Allow` that the original answer carried.
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, replacement).map_into_right_body()
}

/// Marks small bodies `Content-Encoding: identity` so the `Compress`
/// middleware (which skips encoded bodies) leaves them alone; [`edge`]
/// removes the marker again.
pub async fn uncompressed_small_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let min = req
        .app_data::<web::Data<EdgeConfig>>()
        .map_or(1024, |c| c.compress_min_bytes);
    let mut response = next.call(req).await?;
    if let actix_web::body::BodySize::Sized(size) = response.response().body().size()
        && size < min
    {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    Ok(response)
}
