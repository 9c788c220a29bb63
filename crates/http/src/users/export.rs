//! `GET /api/v1/users/export`: every account as CSV or JSON, streamed in
//! keyset batches so memory stays constant however many accounts there are;
//! and `POST /api/v1/users/exports`, the same file written by a job.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use strata_domain::auth::Principal;
use strata_domain::users::User;
use strata_service::jobs::ExportFormat as Encoding;
// Accounts fetched and encoded per chunk, as the export job does.
use strata_service::jobs::kinds::export_users::BATCH;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::UserResponse;
use crate::AppState;
use crate::error::{ApiError, ErrorChain, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint_json, once};
use crate::jobs::{JobResponse, accepted};

/// `csv` or `json`; the encoding is the export job's
/// ([`strata_service::jobs::ExportFormat`]), so both exports write the same bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Csv,
    Json,
}

impl From<ExportFormat> for Encoding {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Csv => Self::Csv,
            ExportFormat::Json => Self::Json,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default) or `json`.
    pub format: Option<ExportFormat>,
}

enum Step {
    /// The batch in hand, whether it is the first, and where the next starts.
    Batch {
        users: Vec<User>,
        first: bool,
    },
    Close,
    Done,
}

struct Export {
    state: web::Data<AppState>,
    caller: Principal,
    format: Encoding,
    step: Step,
}

async fn next_chunk(mut job: Export) -> Option<(Result<Bytes, actix_web::Error>, Export)> {
    match std::mem::replace(&mut job.step, Step::Done) {
        Step::Done => None,
        Step::Close => Some((Ok(Bytes::from_static(job.format.tail())), job)),
        Step::Batch { users, first } => {
            let last = users.last().map(|u| u.id);
            let full = users.len() as u64 == BATCH;
            // Encoding a batch is CPU work: it runs on the blocking pool, and
            // meanwhile the next batch is fetched.
            let format = job.format;
            let encoded = actix_web::web::block(move || {
                format
                    .encode(&users, first)
                    .map(Bytes::from)
                    .map_err(ApiError::internal)
            });
            job.step = match (last, full) {
                (Some(after), true) => match job
                    .state
                    .users
                    .export_batch(&job.caller, Some(after), BATCH)
                    .await
                {
                    Ok(next) if next.is_empty() => Step::Close,
                    Ok(next) => Step::Batch {
                        users: next,
                        first: false,
                    },
                    Err(err) => {
                        // The status line is gone; all that is left is to cut the
                        // body short so the client sees an incomplete download.
                        let err = ApiError::from(err);
                        tracing::error!(error = %ErrorChain(&err), "export aborted mid-stream");
                        return Some((Err(err.into()), job));
                    }
                },
                _ => Step::Close,
            };
            let chunk = match encoded.await {
                Ok(result) => result.map_err(Into::into),
                Err(blocking) => Err(ApiError::internal(blocking).into()),
            };
            Some((chunk, job))
        }
    }
}

/// Every account as a CSV or JSON download, streamed. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "A chunked download with `Content-Disposition: attachment`",
            content(("text/csv"), (Vec<UserResponse> = "application/json"))),
        (status = 400, description = "Unknown `format`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/export")]
pub async fn export(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = Encoding::from(query.format.unwrap_or_default());
    // The first batch is read before answering, so a refusal or a storage
    // failure still gets its proper status instead of a truncated 200.
    let first = state
        .users
        .export_batch(&caller.0, None::<Uuid>, BATCH)
        .await?;
    let head = Bytes::from_static(format.head());
    let job = Export {
        state,
        caller: caller.0,
        format,
        step: if first.is_empty() {
            Step::Close
        } else {
            Step::Batch {
                users: first,
                first: true,
            }
        },
    };
    let body = futures_util::StreamExt::chain(
        stream::once(async move { Ok::<_, actix_web::Error>(head) }),
        stream::unfold(job, next_chunk),
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format.filename().to_owned())],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// The body of `POST /users/exports`.
#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartExportRequest {
    /// `csv` (default) or `json`.
    pub format: Option<ExportFormat>,
}

/// Export every account to a file, as a background job. Admins only.
///
/// Poll the job at `Location`; once it has succeeded, download the file from
/// its `result_url` (only the admin who started it may). The file holds the
/// same bytes as `GET /users/export` in the same format.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(IdempotencyKeyParam),
    request_body = StartExportRequest,
    responses(
        (status = 202, description = "The export is queued", body = JobResponse, headers(("Location" = String))),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/exports")]
pub async fn start_export(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authenticated,
    key: KeyHeader,
    body: ValidatedJson<StartExportRequest>,
) -> Result<HttpResponse, ApiError> {
    let keyed = key.with(|| fingerprint_json(&req, &body.0));
    let format = Encoding::from(body.0.format.unwrap_or_default());
    once(&state.idempotency, &caller.0, keyed, accepted, |once| {
        state.jobs.start_user_export(&caller.0, format, once)
    })
    .await
}
