//! `/api/v1/ws`: the WebSocket of a user's live events (docs/realtime.md).
//!
//! A browser cannot set `Authorization` on a WebSocket, and an access token
//! in a URL ends up in logs; so the client first asks `POST
//! /api/v1/ws/tickets` (bearer) for a single-use ticket valid 30 s, then
//! opens `GET /api/v1/ws?ticket=…`. The handshake is refused with a problem
//! document, before any upgrade, for a foreign `Origin`, a ticket that
//! cannot be used, or a user at the socket limit.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::bearer::bearer_token;
use crate::error::{ApiError, Problem};
use crate::realtime_socket::{SocketLimits, serve};

/// Registers the ticket route, inside the API scope.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(issue_ticket);
}

/// Registers the socket itself, outside the API scope (its CORS middleware
/// would answer a foreign origin with a bare 400 before this handler checks
/// it, and compression and the handler timeout have nothing to do with a
/// socket).
pub fn configure_socket(cfg: &mut ServiceConfig<'_>) {
    cfg.service(open_socket);
}

/// Which browser origins may open a socket: the CORS allowlist, plus the
/// server's own origin.
#[derive(Debug, Clone, Default)]
pub struct SocketSettings {
    pub allowed_origins: Vec<String>,
    pub limits: SocketLimits,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketResponse {
    /// Opens one socket: `GET /api/v1/ws?ticket=…`. Single use.
    #[schema(example = "q3Wl0n6cR4v0bK2W7d8m4J1pQ5s9uXyZ0aBcDeFgHiJ")]
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
    /// Seconds left to use it.
    #[schema(example = 30)]
    pub expires_in: i64,
}

/// Issue a WebSocket ticket.
///
/// The socket it opens closes when this access token would have expired,
/// and at once when its session is revoked.
#[utoipa::path(
    tag = "realtime",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A single-use ticket", body = TicketResponse),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/ws/tickets")]
pub async fn issue_ticket(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer_token(&req).ok_or(ApiError::Unauthenticated {
        token_presented: false,
    })?;
    let (caller, access_expires_at) = state.auth.authenticate_until(token)?;
    let issued = state
        .realtime
        .issue_ticket(&caller, access_expires_at)
        .await?;
    Ok(HttpResponse::Created().json(TicketResponse {
        expires_in: (issued.expires_at - Utc::now()).num_seconds().max(0),
        ticket: issued.ticket,
        expires_at: issued.expires_at,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    /// From `POST /api/v1/ws/tickets` (required).
    pub ticket: Option<String>,
    /// Resume: the last `seq` the client received. What follows is sent
    /// first, from the database, then live events.
    pub after: Option<u64>,
}

/// Open the WebSocket.
///
/// Server messages are JSON `{"type", "seq", "data"}`: `ready` first (its
/// `seq` is the user's last event number), then `job.progress`,
/// `job.finished` and `notification.created`, numbered in order without
/// repeats. The client may send `{"type": "resume", "after": seq}`. Close
/// codes: 4001 session revoked, 4002 token expired (ask a new ticket),
/// 4008 too slow, 4000 idle, 1008 too many messages, 1009 frame too large,
/// 1011 server unavailable (reconnect and resume).
#[utoipa::path(
    tag = "realtime",
    params(SocketQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, used or expired ticket", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Origin not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sockets for this user", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/ws")]
pub async fn open_socket(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<SocketQuery>,
    state: web::Data<AppState>,
    settings: web::Data<SocketSettings>,
) -> Result<HttpResponse, ApiError> {
    crate::rate_limit::charge_ip(&req).await?;
    if !origin_allowed(&req, &settings.allowed_origins) {
        metrics::counter!("strata_ws_refused_total", "reason" => "origin").increment(1);
        return Err(ApiError::ForbiddenOrigin);
    }
    let SocketQuery { ticket, after } = query.into_inner();
    let ticket = ticket.ok_or(ApiError::InvalidTicket)?;
    // The handshake is checked before the ticket is used up; nothing is
    // sent until the response is returned, so a refusal below is still a
    // plain problem document.
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|_| {
        ApiError::Malformed("Expected a WebSocket handshake (Upgrade: websocket).".into())
    })?;
    let feed = state.realtime.open(&ticket, after).await.inspect_err(|_| {
        metrics::counter!("strata_ws_refused_total", "reason" => "ticket").increment(1);
    })?;
    actix_web::rt::spawn(serve(session, stream, feed, settings.limits));
    Ok(response)
}

/// No `Origin` (not a browser), the server's own origin, or one on the list.
fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    // Same origin: the page was served by this host (through a proxy that
    // keeps `Host`, as deploy/nginx does).
    let host = req.connection_info().host().to_owned();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(&host))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn origins_are_checked_against_the_list_and_the_host() {
        let list = vec!["https://app.example.com".to_owned()];
        let with = |origin: &str| {
            TestRequest::default()
                .insert_header((header::HOST, "api.example.com"))
                .insert_header((header::ORIGIN, origin))
                .to_http_request()
        };
        assert!(origin_allowed(&with("https://app.example.com"), &list));
        assert!(origin_allowed(&with("https://api.example.com"), &list));
        assert!(!origin_allowed(&with("https://evil.example"), &list));
        assert!(!origin_allowed(&with("null"), &list));
        assert!(origin_allowed(
            &TestRequest::default().to_http_request(),
            &list
        ));
        assert!(origin_allowed(
            &with("https://evil.example"),
            &["*".to_owned()]
        ));
    }
}
