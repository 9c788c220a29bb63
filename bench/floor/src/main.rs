//! The benchmark's floor: a bare actix-web server with Strata's JWT
//! verification ([`TokenCodec`]) and serde JSON serialization, and nothing
//! else (no middleware, no database, no logging). It is the practical upper
//! limit Strata's own `/health` and `/api/v1/users/me` are compared against.
//!
//! `PORT` (default 8090) on 127.0.0.1, one worker.

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use strata_service::TokenCodec;
use uuid::Uuid;

/// The values of Strata's development configuration (`config/default.toml`
/// and `config/development.toml`), so tokens Strata issues verify here.
const DEV_SECRET: &[u8] = b"dev-only-insecure-jwt-secret-do-not-use-in-production";
const ISSUER: &str = "strata";
const AUDIENCE: &str = "strata-api";
const ACCESS_TTL_SECS: u64 = 900;
const DEFAULT_PORT: u16 = 8090;

/// The same shape as Strata's `UserResponse`.
#[derive(Debug, Serialize)]
struct UserResponse {
    id: Uuid,
    email: &'static str,
    username: &'static str,
    full_name: Option<&'static str>,
    role: &'static str,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct Status {
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct Unauthenticated {
    status: u16,
    code: &'static str,
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn me(req: HttpRequest, codec: web::Data<TokenCodec>) -> HttpResponse {
    let Some(principal) = bearer(&req).and_then(|token| codec.verify(token).ok()) else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .content_type("application/problem+json")
            .json(Unauthenticated {
                status: 401,
                code: "UNAUTHENTICATED",
            });
    };
    let at = Utc
        .timestamp_opt(1_700_000_000, 0)
        .single()
        .unwrap_or_default();
    HttpResponse::Ok().json(UserResponse {
        id: principal.user_id,
        email: "bench@example.com",
        username: "bench",
        full_name: Some("Bench Mark"),
        role: principal.role.as_str(),
        is_active: true,
        created_at: at,
        updated_at: at,
    })
}

#[actix_web::main]
async fn run(port: u16) -> std::io::Result<()> {
    let codec = web::Data::from(Arc::new(TokenCodec::new(
        DEV_SECRET,
        ISSUER,
        AUDIENCE,
        ACCESS_TTL_SECS,
    )));
    eprintln!("strata-floor listening on 127.0.0.1:{port}");
    HttpServer::new(move || {
        App::new()
            .app_data(codec.clone())
            .route("/health", web::get().to(health))
            .route("/api/v1/users/me", web::get().to(me))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

fn main() -> ExitCode {
    let port = match std::env::var("PORT") {
        Ok(raw) => match raw.parse::<u16>() {
            Ok(port) => port,
            Err(err) => {
                eprintln!("error: PORT={raw:?} is not a port number: {err}");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => DEFAULT_PORT,
    };
    match run(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
