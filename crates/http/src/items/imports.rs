//! `POST /api/v1/items/imports`: a CSV file of items, stored and imported by
//! a background job as the caller's items.

use actix_web::{HttpRequest, HttpResponse, post, web};

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Writer, bounded_body, require_csv};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint, once};
use crate::jobs::{JobResponse, accepted};

/// The largest upload accepted, in bytes (`HttpSettings::import_max_bytes`).
#[derive(Debug, Clone, Copy)]
pub struct ImportLimit(pub usize);

/// A CSV upload as the schema documents it: the header row, then any rows
/// (each is judged by the job, not at upload).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, pattern = r"^title[ ]*,[ ]*description[ ]*(\r?\n[\s\S]*)?$")]
#[allow(dead_code)]
pub struct CsvUpload(String);

/// Import items from a CSV file, as a background job.
///
/// The file is UTF-8 CSV: a `title,description` header row, then one item
/// per row. The header and the encoding are checked now; each row is checked
/// by the job, whose result counts the items created and lists the rows
/// refused.
#[utoipa::path(
    tag = "items",
    security(("bearer" = []), ("oauth2" = [])),
    params(IdempotencyKeyParam),
    request_body(content = CsvUpload, content_type = "text/csv", description = "UTF-8 CSV with a `title,description` header row"),
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 202, description = "The import is queued", body = JobResponse, headers(("Location" = String))),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the file exceeds the configured import limit (10 MiB by default)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body is not `text/csv` in UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED` on `body`: not UTF-8, or no `title,description` header row", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/items/imports")]
pub async fn import_items(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Writer,
    key: KeyHeader,
    limit: web::Data<ImportLimit>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_csv(&req)?;
    let csv = bounded_body(&req, payload, limit.0).await?;
    let keyed = key.with(|| fingerprint(&req, &csv));
    once(&state.idempotency, &caller.0, keyed, accepted, |once| {
        state.jobs.start_item_import(&caller.0, csv, once)
    })
    .await
}
