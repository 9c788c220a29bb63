//! Layers that wrap only some routes: the handler timeout (the routes that
//! wait on I/O) and the small-body marker (the compressed API scope).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use super::EdgeConfig;
use crate::error::ApiError;

/// Abandons a handler still running after `server.request_timeout_secs`
/// with a 503 problem. It wraps the routes that wait on I/O (the API and
/// readiness); liveness, metrics and the docs never wait, so they skip the
/// timer it would cost.
pub async fn handler_timeout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let timeout = setting(&req, |c| c.request_timeout);
    match tokio::time::timeout(timeout, next.call(req)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::warn!(
                timeout_secs = timeout.as_secs_f64(),
                "request abandoned after the handler timeout"
            );
            Err(ApiError::Timeout.into())
        }
    }
}

/// Marks small bodies `Content-Encoding: identity` so the `Compress`
/// middleware (which skips encoded bodies) leaves them alone; [`super::Edge`]
/// removes the marker again.
pub async fn uncompressed_small_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let min = setting(&req, |c| c.compress_min_bytes);
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

/// One setting of the app's [`EdgeConfig`], or its default when the app
/// registered none (as in tests that build a bare app).
fn setting<T>(req: &ServiceRequest, read: impl FnOnce(&EdgeConfig) -> T) -> T {
    match req.app_data::<web::Data<EdgeConfig>>() {
        Some(config) => read(config),
        None => read(&EdgeConfig::default()),
    }
}
