//! GraphQL over HTTP at one path: `POST` runs queries and mutations
//! (`application/json`, one operation or a bounded batch), `GET` runs
//! queries only, from the query string. What is refused before any GraphQL
//! runs (body, method, batch, token) is a problem document, as on
//! `/api/v1`; what GraphQL itself refuses is a GraphQL error.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{
    BatchRequest, BatchResponse, ErrorExtensionValues, Request, Response, ServerError,
};
use futures_util::StreamExt;
use strata_domain::auth::Principal;

use crate::context::Viewer;
use crate::error::problem;
use crate::graphiql;
use crate::posts::FavoritedLoader;
use crate::profiles::AuthorLoader;
use crate::{Limits, Services, StrataSchema};

/// What the `/graphql` routes need.
#[derive(Clone)]
pub struct Graphql {
    pub schema: StrataSchema,
    pub services: Services,
    pub limits: Limits,
    /// The current request's id, for problem documents.
    pub request_id: fn() -> String,
}

impl std::fmt::Debug for Graphql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graphql")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Graphql {
    /// Runs one operation as `viewer`, as the transport would after its own
    /// checks: for embedding the schema elsewhere, and for tests that count
    /// what an operation costs.
    pub async fn execute(
        &self,
        query: &str,
        variables: serde_json::Value,
        viewer: Option<Principal>,
    ) -> serde_json::Value {
        let request = Request::new(query).variables(async_graphql::Variables::from_json(variables));
        serde_json::to_value(run(self, request, viewer).await).unwrap_or_default()
    }
}

/// The `/graphql` routes at `path` (the endpoint, and GraphiQL's assets
/// under `{path}/assets/`); the `app` crate mounts them and wraps them in
/// its own middleware (rate limits, CORS, timeout).
pub fn scope(path: &str, graphql: Graphql) -> actix_web::Scope {
    web::scope(path)
        .app_data(web::Data::new(graphql))
        .app_data(web::Data::new(graphiql::Page(graphiql::page(path).into())))
        .service(
            web::resource("")
                .route(web::post().to(post))
                .route(web::get().to(get))
                .default_service(web::to(other_method)),
        )
        .service(web::resource("/assets/{file}").route(web::get().to(graphiql::asset)))
}

async fn post(
    req: HttpRequest,
    payload: web::Payload,
    graphql: web::Data<Graphql>,
) -> HttpResponse {
    let refuse = |status, code, detail: &str| problem(status, code, detail, (graphql.request_id)());
    if !is_json(&req) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send GraphQL requests as application/json.",
        );
    }
    let viewer = match authenticate(&req, &graphql) {
        Ok(viewer) => viewer,
        Err(response) => return *response,
    };
    let body = match read_body(payload, graphql.limits.body_limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "The body exceeds {} bytes (server.body_limit_bytes).",
                    graphql.limits.body_limit
                ),
            );
        }
        Err(BodyError::Broken) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "MALFORMED_REQUEST",
                "The request body could not be read.",
            );
        }
    };
    let batch = match decode(&body, graphql.limits.max_batch) {
        Ok(batch) => batch,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", &why),
    };
    let response = match batch {
        BatchRequest::Single(request) => {
            BatchResponse::Single(run(&graphql, request, viewer).await)
        }
        // One after another: a batch costs what its operations cost in turn.
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(run(&graphql, request, viewer).await);
            }
            BatchResponse::Batch(responses)
        }
    };
    respond(&graphql, &response)
}

async fn get(
    req: HttpRequest,
    graphql: web::Data<Graphql>,
    page: web::Data<graphiql::Page>,
) -> HttpResponse {
    if graphiql::wants_page(&req) {
        return graphiql::serve_page(&page);
    }
    let refuse = |status, code, detail: &str| problem(status, code, detail, (graphql.request_id)());
    let mut request = match async_graphql::http::parse_query_string(req.query_string()) {
        Ok(request) if !request.query.is_empty() => request,
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "MALFORMED_REQUEST",
                "A GET needs a `query` parameter (and may have `operationName` and `variables`).",
            );
        }
    };
    if changes_state(&mut request) {
        // A GET must be safe: links and image tags must not write (CSRF).
        let mut response = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Mutations are sent with POST.",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    let viewer = match authenticate(&req, &graphql) {
        Ok(viewer) => viewer,
        Err(response) => return *response,
    };
    let response = BatchResponse::Single(run(&graphql, request, viewer).await);
    respond(&graphql, &response)
}

async fn other_method(graphql: web::Data<Graphql>) -> HttpResponse {
    let mut response = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This method is not allowed on this resource.",
        (graphql.request_id)(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
    response
}

fn is_json(req: &HttpRequest) -> bool {
    req.mime_type().ok().flatten().is_some_and(|mime| {
        mime.type_() == "application"
            && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
    })
}

/// The caller: anonymous without an `Authorization` header, else the
/// bearer token's principal. A token that is presented but refused is 401,
/// never silently anonymous, so a client learns its session is over.
fn authenticate(
    req: &HttpRequest,
    graphql: &Graphql,
) -> Result<Option<Principal>, Box<HttpResponse>> {
    // The rate limiter verified the token already, if it ran.
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(Some(*principal));
    }
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value.to_str().ok().and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    });
    match token.map(|token| graphql.services.auth.authenticate(token)) {
        Some(Ok(principal)) => Ok(Some(principal)),
        _ => {
            let mut response = problem(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "The token is invalid, expired or revoked.",
                (graphql.request_id)(),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            Err(Box::new(response))
        }
    }
}

enum BodyError {
    TooLarge,
    Broken,
}

/// The body, refused as soon as it passes `limit` (never buffered whole).
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, BodyError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One operation (a JSON object) or a batch (an array of at most
/// `max_batch`).
fn decode(body: &[u8], max_batch: usize) -> Result<BatchRequest, String> {
    let is_batch = body.trim_ascii_start().first() == Some(&b'[');
    if !is_batch {
        return serde_json::from_slice::<Request>(body)
            .map(BatchRequest::Single)
            .map_err(|err| format!("The body is not a GraphQL request: {err}."));
    }
    let requests: Vec<Request> = serde_json::from_slice(body)
        .map_err(|err| format!("The body is not a batch of GraphQL requests: {err}."))?;
    if requests.is_empty() || requests.len() > max_batch {
        return Err(format!(
            "A batch holds 1 to {max_batch} operations (graphql.max_batch); this one has {}.",
            requests.len()
        ));
    }
    Ok(BatchRequest::Batch(requests))
}

/// Whether the operation a GET would run is a mutation (or subscription).
/// A document that does not parse, or names no single operation, writes
/// nothing: execution refuses it.
fn changes_state(request: &mut Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let name = name.as_deref();
    let chosen = match &document.operations {
        DocumentOperations::Single(operation) => Some(&operation.node),
        DocumentOperations::Multiple(operations) => match name {
            Some(name) => operations
                .iter()
                .find(|(key, _)| key.as_str() == name)
                .map(|(_, operation)| &operation.node),
            None if operations.len() == 1 => operations.values().next().map(|op| &op.node),
            None => None,
        },
    };
    chosen.is_some_and(|operation| operation.ty != OperationType::Query)
}

/// How many fields the document aliases, counting a fragment each time it
/// is spread; `None` once past `max` or past the work bound (a document
/// that takes that long to count is refused as well).
pub(crate) fn aliases_within(document: &ExecutableDocument, max: usize) -> Option<usize> {
    struct Counter<'a> {
        document: &'a ExecutableDocument,
        aliases: usize,
        visits: usize,
        max: usize,
    }
    const MAX_VISITS: usize = 10_000;
    impl Counter<'_> {
        fn walk(&mut self, set: &SelectionSet, depth: usize) -> Option<()> {
            if depth > 64 {
                return None;
            }
            for selection in &set.items {
                self.visits += 1;
                if self.visits > MAX_VISITS {
                    return None;
                }
                match &selection.node {
                    Selection::Field(field) => {
                        if field.node.alias.is_some() {
                            self.aliases += 1;
                            if self.aliases > self.max {
                                return None;
                            }
                        }
                        self.walk(&field.node.selection_set.node, depth + 1)?;
                    }
                    Selection::InlineFragment(fragment) => {
                        self.walk(&fragment.node.selection_set.node, depth + 1)?;
                    }
                    Selection::FragmentSpread(spread) => {
                        // An unknown fragment is for validation to report.
                        if let Some(fragment) =
                            self.document.fragments.get(&spread.node.fragment_name.node)
                        {
                            self.walk(&fragment.node.selection_set.node, depth + 1)?;
                        }
                    }
                }
            }
            Some(())
        }
    }
    let mut counter = Counter {
        document,
        aliases: 0,
        visits: 0,
        max,
    };
    for (_, operation) in document.operations.iter() {
        counter.walk(&operation.node.selection_set.node, 0)?;
    }
    Some(counter.aliases)
}

/// One operation, with the caller and fresh DataLoaders (nothing cached
/// across requests, users or writes).
async fn run(graphql: &Graphql, mut request: Request, viewer: Option<Principal>) -> Response {
    // Parsed once: execution reuses the request's parse (a syntax error is
    // left for it to report).
    if let Ok(document) = request.parsed_query()
        && aliases_within(document, graphql.limits.max_aliases).is_none()
    {
        return refusal(
            "ALIAS_LIMIT_EXCEEDED",
            format!(
                "The query uses more than {} aliases (graphql.max_aliases).",
                graphql.limits.max_aliases
            ),
        );
    }
    let services = &graphql.services;
    let request = request
        .data(Viewer(viewer))
        .data(DataLoader::new(
            AuthorLoader {
                profiles: services.profiles.clone(),
                viewer,
            },
            tokio::spawn,
        ))
        .data(DataLoader::new(
            FavoritedLoader {
                posts: services.posts.clone(),
                viewer,
            },
            tokio::spawn,
        ));
    let mut response = graphql.schema.execute(request).await;
    name_the_limits(&mut response, &graphql.limits);
    response
}

/// async-graphql's own limit errors, reworded to name the setting, with a
/// stable code.
fn name_the_limits(response: &mut Response, limits: &Limits) {
    for error in &mut response.errors {
        let (code, message) = match error.message.as_str() {
            "Query is nested too deep." => (
                "DEPTH_LIMIT_EXCEEDED",
                format!(
                    "The query is nested deeper than {} levels (graphql.max_depth).",
                    limits.max_depth
                ),
            ),
            "Query is too complex." => (
                "COMPLEXITY_LIMIT_EXCEEDED",
                format!(
                    "The query costs more than {} (graphql.max_complexity); ask for smaller pages or fewer fields.",
                    limits.max_complexity
                ),
            ),
            _ => continue,
        };
        error.message = message;
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", code);
    }
}

fn refusal(code: &'static str, message: String) -> Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code);
    Response::from_errors(vec![error])
}

fn respond(graphql: &Graphql, response: &BatchResponse) -> HttpResponse {
    match serde_json::to_vec(response) {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            // Answers may be the caller's own: no shared cache keeps them.
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(err) => {
            let request_id = (graphql.request_id)();
            tracing::error!(%request_id, error = %err, "GraphQL response could not be serialised");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "An internal error occurred.",
                request_id,
            )
        }
    }
}
