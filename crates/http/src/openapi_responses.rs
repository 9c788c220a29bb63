//! The problem answers every operation can give, declared once as component
//! responses and attached to each operation by what it has (parameters, a
//! body, a bearer requirement, its place under `/api/v1`), so the document
//! lists every status the edge can answer without a row copied per handler.
//! Statuses particular to one operation (403, 409, 412, ...) stay on it.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::Ref;
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response};

use crate::error::PROBLEM_JSON;

/// (component name, status, description) of each standard answer.
const STANDARD: [(&str, &str, &str); 9] = [
    (
        "MalformedRequest",
        "400",
        "`MALFORMED_REQUEST`: the body is not valid JSON, or a path or query parameter has the wrong type; `INVALID_IDEMPOTENCY_KEY`: the `Idempotency-Key` header is not a valid key",
    ),
    (
        "Unauthenticated",
        "401",
        "`UNAUTHENTICATED`: no bearer token, or one that is invalid, expired or revoked (with `WWW-Authenticate: Bearer`)",
    ),
    (
        "NotFound",
        "404",
        "`NOT_FOUND`: no such resource, or one the caller may not see",
    ),
    (
        "IdempotencyInProgress",
        "409",
        "`IDEMPOTENCY_IN_PROGRESS`: a request with this `Idempotency-Key` is still running; `Retry-After` says when to retry",
    ),
    (
        "PayloadTooLarge",
        "413",
        "`PAYLOAD_TOO_LARGE`: the body exceeds the configured limit",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json`",
    ),
    (
        "ValidationFailed",
        "422",
        "`VALIDATION_FAILED`: `errors` names each offending field with a stable code (see docs/api.md)",
    ),
    (
        "RateLimited",
        "429",
        "`RATE_LIMITED`: the budget is spent; `Retry-After` and `RateLimit-*` say when it refills",
    ),
    (
        "ServiceUnavailable",
        "503",
        "`SERVICE_UNAVAILABLE`: the database is unreachable or the request took too long",
    ),
];

/// Adds the component responses and attaches them where they apply.
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, _, description) in STANDARD {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(problem(description)));
    }
    components
        .responses
        .insert("NotModified".to_owned(), RefOr::T(not_modified()));
    for (path, item) in &mut doc.paths.paths {
        for operation in operations(item) {
            if revalidates(operation) {
                operation
                    .responses
                    .responses
                    .entry("304".to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name("NotModified")));
            }
            for status in applicable(path, operation) {
                if let Some((name, _, _)) = STANDARD.iter().find(|(_, s, _)| *s == status) {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                }
            }
        }
    }
}

/// The 304 of a conditional GET: no body, the headers of the 200.
fn not_modified() -> Response {
    let header = |description: &str| {
        utoipa::openapi::header::HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
            ))
            .description(Some(description))
            .build()
    };
    ResponseBuilder::new()
        .description("Not modified: `If-None-Match` names the current version; no body, the headers a 200 would carry")
        .header("ETag", header("The current version's tag"))
        .header("Cache-Control", header("As on the 200"))
        .header("Vary", header("As on the 200"))
        .build()
}

/// Whether `operation` documents `If-None-Match` (it then answers 304).
fn revalidates(operation: &Operation) -> bool {
    operation.parameters.as_deref().unwrap_or_default().iter().any(
        |p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Header && p.name == "If-None-Match"),
    )
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The standard statuses `operation` at `path` can answer.
fn applicable(path: &str, operation: &Operation) -> Vec<&'static str> {
    let params = operation.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| {
        params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let (query, in_path) = (has(ParameterIn::Query), has(ParameterIn::Path));
    let keyed = params.iter().any(
        |p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Header && p.name == "Idempotency-Key"),
    );
    let body = operation.request_body.is_some();
    let bearer = operation
        .security
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|requirement| {
            serde_json::to_value(requirement)
                .ok()
                .and_then(|v| v.get("bearer").cloned())
                .is_some()
        });
    let api = path.starts_with("/api/");
    let mut statuses = Vec::new();
    if query || in_path || body || keyed {
        statuses.push("400");
    }
    if bearer {
        statuses.push("401");
    }
    if in_path {
        statuses.push("404");
    }
    if body {
        statuses.extend(["413", "415"]);
    }
    if keyed {
        statuses.push("409");
    }
    if body || query || keyed {
        statuses.push("422");
    }
    if api {
        statuses.extend(["429", "503"]);
    }
    statuses
}
