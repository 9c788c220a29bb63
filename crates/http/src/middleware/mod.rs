//! The edge middleware every response passes through: request ids, security
//! headers, the problem+json safety net, metrics and the access log. One layer
//! rather than four keeps the per-request cost to a single future, and no
//! boxing at all.

mod deprecation;
mod scoped;

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

// The TSC where the CPU has a stable one: two clock reads per request are on
// the hot path, and `clock_gettime` costs more than a TSC read in a VM.
use quanta::Clock;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpMessage, ResponseError};
use uuid::Uuid;

pub use crate::context::{AuthenticatedUser, REQUEST_ID_HEADER, current_request_id};
use crate::context::{REQUEST_ID, RequestId};
pub use deprecation::deprecated;
pub use scoped::{handler_timeout, uncompressed_small_bodies};

use crate::error::{ApiError, PROBLEM_JSON, render};

const API_CSP: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
/// Swagger UI needs its own scripts, styles and inline SVG; still nothing
/// from any other origin.
const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
);

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

/// The edge layer, registered outermost on the app (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Edge {
    hsts: Option<HeaderValue>,
}

impl Edge {
    pub fn new(config: &EdgeConfig) -> Self {
        // Calibrates the clock while starting rather than in a request.
        clock();
        Self {
            hsts: config.hsts.clone(),
        }
    }
}

/// The latency clock. Creating one calibrates the TSC against the OS clock
/// (up to 200 ms); one per process, and requests read its raw ticks.
fn clock() -> &'static Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    CLOCK.get_or_init(Clock::new)
}

impl<S> Transform<S, ServiceRequest> for Edge
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    type Response = ServiceResponse;
    type Error = actix_web::Error;
    type Transform = EdgeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(EdgeService {
            service,
            hsts: self.hsts.clone(),
        }))
    }
}

/// A hand-written service and future rather than `from_fn`: no boxed future
/// per request, and nothing moved but the few fields the edge needs.
#[derive(Debug)]
pub struct EdgeService<S> {
    service: S,
    hsts: Option<HeaderValue>,
}

// Over the app's own boxed bodies only: a success passes through unchanged,
// with no body mapping, and a replacement problem has the same type.
impl<S> Service<ServiceRequest> for EdgeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    type Response = ServiceResponse;
    type Error = actix_web::Error;
    type Future = EdgeFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let request_id = RequestId::of(&req);
        let started = clock().raw();
        let method = req.method().clone();
        let area = Area::of(req.path());
        let span = tracing::info_span!("request", request_id = %request_id, method = %method);
        // Calling only builds the inner future: actix's router, CORS and
        // compression answer from `call` without rendering our problems, and
        // errors returned from it are rendered in `poll`, inside the scope.
        let inner = {
            let _entered = (!span.is_disabled()).then(|| span.enter());
            self.service.call(req)
        };
        EdgeFuture {
            inner,
            request: Some(EdgeRequest {
                request_id,
                started,
                method,
                area,
                hsts: self.hsts.clone(),
                span,
            }),
        }
    }
}

/// What the edge keeps of a request until its response is ready.
#[derive(Debug)]
struct EdgeRequest {
    request_id: RequestId,
    /// Raw clock ticks, scaled only once the request is done.
    started: u64,
    method: Method,
    area: Area,
    hsts: Option<HeaderValue>,
    span: tracing::Span,
}

/// Which part of the app a path belongs to, for what differs at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    /// `/api/…`: the only scope that compresses, so the only one whose
    /// answers may carry the `uncompressed_small_bodies` marker.
    Api,
    /// `/docs…`: Swagger UI, with its relaxed CSP.
    Docs,
    Other,
}

impl Area {
    fn of(path: &str) -> Self {
        if path.starts_with("/api/") {
            Self::Api
        } else if path.starts_with("/docs") {
            Self::Docs
        } else {
            Self::Other
        }
    }
}

pin_project_lite::pin_project! {
    #[derive(Debug)]
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        request: Option<EdgeRequest>,
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<ServiceResponse, actix_web::Error>>,
{
    type Output = Result<ServiceResponse, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(request) = this.request.as_ref() else {
            return polled_after_completion();
        };
        let Poll::Ready(result) = request.in_scope(|| this.inner.poll(cx)) else {
            return Poll::Pending;
        };
        match this.request.take() {
            Some(request) => Poll::Ready(finish(request, result)),
            None => polled_after_completion(),
        }
    }
}

impl EdgeRequest {
    /// Runs `f` as part of this request: inside its span, and with its id
    /// in the task-local that error rendering and logs read.
    fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        // A disabled span (the request span is INFO) costs nothing to skip.
        let _entered = (!self.span.is_disabled()).then(|| self.span.enter());
        REQUEST_ID.sync_scope(self.request_id.clone(), f)
    }
}

/// A caller bug (polling a finished future), answered without panicking.
fn polled_after_completion<T>() -> Poll<Result<T, actix_web::Error>> {
    Poll::Ready(Err(ApiError::internal(
        "edge future polled after completion",
    )
    .into()))
}

/// Turns what the app answered into the response (a problem+json one for
/// errors), adds the edge headers and records it. Errors are rendered in
/// the request's scope, so their problem bodies carry its id; a success
/// needs no scope, and is not moved more than it must be.
fn finish(
    request: EdgeRequest,
    result: Result<ServiceResponse, actix_web::Error>,
) -> Result<ServiceResponse, actix_web::Error> {
    let outcome = match result {
        Ok(response) if is_error(response.status()) => {
            Ok(request.in_scope(|| ensure_problem(response)))
        }
        Ok(response) => Ok(response),
        Err(err) => Err(request.in_scope(|| err.error_response())),
    };
    let EdgeRequest {
        request_id,
        started,
        method,
        area,
        hsts,
        span: _,
    } = request;
    let latency = clock().delta(started, clock().raw());
    let docs = area == Area::Docs;
    match outcome {
        Ok(mut response) => {
            edge_headers(response.headers_mut(), &request_id, docs, hsts);
            // The marker `uncompressed_small_bodies` set to keep Compress away.
            if area == Area::Api
                && response
                    .headers()
                    .get(header::CONTENT_ENCODING)
                    .is_some_and(|v| v == "identity")
            {
                response.headers_mut().remove(header::CONTENT_ENCODING);
            }
            let request = response.request();
            observe(
                &request_id,
                &method,
                request.path(),
                || {
                    request.match_pattern().or_else(|| {
                        let extensions = request.extensions();
                        extensions
                            .get::<crate::methods::AllowedRoute>()
                            .map(|route| route.0.clone())
                    })
                },
                response.status(),
                latency,
                || request.extensions().get::<AuthenticatedUser>().map(|u| u.0),
            );
            Ok(response)
        }
        Err(mut response) => {
            edge_headers(response.headers_mut(), &request_id, docs, hsts);
            // The request went with the error; the path is unknown here.
            observe(
                &request_id,
                &method,
                "",
                || None,
                response.status(),
                latency,
                || None,
            );
            Err(InternalError::from_response("request failed in middleware", response).into())
        }
    }
}

/// Appended rather than inserted: nothing but this layer sets these headers
/// (a test checks each appears once), and `append` skips building and
/// dropping the replaced value that `insert` returns.
fn edge_headers(
    headers: &mut HeaderMap,
    request_id: &RequestId,
    docs: bool,
    hsts: Option<HeaderValue>,
) {
    headers.append(REQUEST_ID_HEADER, request_id.header_value());
    headers.append(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.append(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.append(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A page that needs another policy sets its own (GraphiQL, served by
    // its adapter at a configurable path); nothing under /api/v1 does.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.append(
            header::CONTENT_SECURITY_POLICY,
            if docs { DOCS_CSP } else { API_CSP },
        );
    }
    if let Some(hsts) = hsts {
        headers.append(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
}

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// Records the finished request in the metrics and the access log.
fn observe(
    request_id: &RequestId,
    method: &Method,
    path: &str,
    pattern: impl FnOnce() -> Option<String>,
    status: StatusCode,
    latency: Duration,
    user_id: impl FnOnce() -> Option<Uuid>,
) {
    let seconds = latency.as_secs_f64();
    crate::metrics::record_request(method, path, pattern, status.as_u16(), seconds, |route| {
        if !tracing::enabled!(target: "strata::access", tracing::Level::INFO) {
            return;
        }
        let user_id = user_id();
        tracing::info!(
            target: "strata::access",
            request_id = %request_id,
            method = %method,
            route = route.unwrap_or("<unmatched>"),
            status = status.as_u16(),
            latency_ms = seconds * 1000.0,
            user_id = user_id.map(|u| u.to_string()).as_deref().unwrap_or("-"),
            "request"
        );
    });
}

/// Replaces any error response that is not already problem+json (a 405 from
/// the router, a 404 for an unknown route, an actix internal error) with one,
/// so clients can rely on the error format everywhere.
fn ensure_problem(response: ServiceResponse) -> ServiceResponse {
    let status = response.status();
    if !is_error(status) {
        return response;
    }
    // Handlers answer errors in JSON already (problem+json, or the readiness
    // report); only bodies from outside them (router, actix internals) are not.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|ct| ct.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON) || ct.starts_with("application/json"));
    if is_json {
        return response;
    }
    let replacement = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound("Route").error_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::MethodNotAllowed { allow: None }.error_response()
        }
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
    ServiceResponse::new(req, replacement)
}
