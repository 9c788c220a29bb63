//! `/api/v1/jobs`: background jobs as their requesters see them: progress,
//! cancellation, retries (admins) and the file a finished job produced.
//!
//! A job is visible to the account that created it and to admins; to anyone
//! else it does not exist (404, never 403). The payload (which can hold
//! e-mail text), the lease owner and the storage key of a result file are
//! never shown.

mod result;

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_domain::ValidationErrors;
use strata_domain::jobs::{self, Job};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Writer};
use crate::page::{PageResponse, page_request};

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_jobs)
        .service(get_job)
        .service(cancel_job)
        .service(retry_job)
        .service(result::download_result);
}

/// Where a job is in its life. `queued` and `running` are live; the other
/// four are final until an admin retries a `failed` or `dead` job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Dead,
}

impl From<JobStatus> for jobs::JobStatus {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::Queued => Self::Queued,
            JobStatus::Running => Self::Running,
            JobStatus::Succeeded => Self::Succeeded,
            JobStatus::Failed => Self::Failed,
            JobStatus::Cancelled => Self::Cancelled,
            JobStatus::Dead => Self::Dead,
        }
    }
}

impl From<jobs::JobStatus> for JobStatus {
    fn from(status: jobs::JobStatus) -> Self {
        match status {
            jobs::JobStatus::Queued => Self::Queued,
            jobs::JobStatus::Running => Self::Running,
            jobs::JobStatus::Succeeded => Self::Succeeded,
            jobs::JobStatus::Failed => Self::Failed,
            jobs::JobStatus::Cancelled => Self::Cancelled,
            jobs::JobStatus::Dead => Self::Dead,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobProgress {
    #[schema(minimum = 0, maximum = 100, example = 40)]
    pub percent: i16,
    #[schema(example = "200 of 500 accounts")]
    pub message: Option<String>,
}

/// A job. `result` is what the job reported when it succeeded (a file it
/// produced is described under `result.file`, and downloaded from
/// `result_url`).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    pub id: Uuid,
    #[schema(example = "export_users")]
    pub kind: String,
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: i32,
    pub max_attempts: i32,
    /// Not started before this instant (the next attempt's time after a failure).
    pub run_at: DateTime<Utc>,
    pub progress: JobProgress,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The last attempt's failure.
    pub last_error: Option<String>,
    /// A running job was asked to stop; it does at its next progress report.
    pub cancel_requested: bool,
    /// The account that asked for the job; `null` for scheduled jobs.
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// `/api/v1/jobs/{id}/result` once the job has succeeded with a file; else `null`.
    #[schema(example = "/api/v1/jobs/0190b4a8-7d3c-7a51-9c1e-4f5a6b7c8d9e/result")]
    pub result_url: Option<String>,
}

impl From<&Job> for JobResponse {
    fn from(job: &Job) -> Self {
        let (result, downloadable) = job.public_result();
        let result_url = downloadable.then(|| format!("{}/result", location(job.id)));
        Self {
            id: job.id,
            kind: job.kind.clone(),
            status: job.status.into(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            run_at: job.run_at,
            progress: JobProgress {
                percent: job.progress,
                message: job.progress_message.clone(),
            },
            result,
            last_error: job.last_error.clone(),
            cancel_requested: job.cancel_requested,
            created_by: job.created_by,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            updated_at: job.updated_at,
            result_url,
        }
    }
}

fn location(id: Uuid) -> String {
    format!("/api/v1/jobs/{id}")
}

/// 202 with the job and `Location` naming it: the answer of every request
/// that queues work (starting a job, cancelling or retrying one), so the
/// client knows where to poll.
pub(crate) fn accepted(job: &Job) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((header::LOCATION, location(job.id)))
        .json(JobResponse::from(job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobListQuery {
    /// Only jobs in this status; any other value is 400.
    pub status: Option<JobStatus>,
    /// Only jobs of this kind (e.g. `export_users`).
    #[param(min_length = 1, max_length = 64, pattern = "^[a-z0-9_]+$")]
    pub kind: Option<String>,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000 (`strata_domain::page::MAX_OFFSET`), default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

use strata_domain::jobs::kind_filter as job_kind;

/// The caller's jobs, newest first; admins see everyone's.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = []), ("oauth2" = [])),
    params(JobListQuery),
    responses(
        (status = 200, body = PageResponse<JobResponse>),
        (status = 400, description = "Unknown `status`, or a non-numeric `limit`/`offset`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` or `offset` out of range, or a `kind` that is not 1 to 64 of `[a-z0-9_]`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs")]
pub async fn list_jobs(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<JobListQuery>,
) -> Result<web::Json<PageResponse<JobResponse>>, ApiError> {
    let query = query.into_inner();
    let mut errors = ValidationErrors::default();
    let page = page_request(query.limit, query.offset, &mut errors);
    let kind = match query.kind {
        Some(raw) => errors.check("kind", job_kind(&raw)).map(Some),
        None => Some(None),
    };
    let (Some(page), Some(kind)) = (page, kind) else {
        return Err(errors.into());
    };
    let jobs = state
        .jobs
        .list(&caller.0, query.status.map(Into::into), kind, page)
        .await?;
    Ok(web::Json(PageResponse::from_page(jobs, |j| {
        JobResponse::from(&j)
    })))
}

/// One job, with its progress and, once it has succeeded, its result.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = JobResponse),
        (status = 404, description = "No such job, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<web::Json<JobResponse>, ApiError> {
    let job = state.jobs.get(&caller.0, id.into_inner()).await?;
    Ok(web::Json(JobResponse::from(&job)))
}

/// Cancel a job.
///
/// A queued job is cancelled at once; a running one is asked to stop and
/// does at its next progress report (`cancel_requested` is then `true`).
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 202, description = "Cancelled, or asked to stop", body = JobResponse, headers(("Location" = String))),
        (status = 404, description = "No such job, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: the job has already finished", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs/{id}/cancel")]
pub async fn cancel_job(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = state.jobs.cancel(&caller.0, id.into_inner()).await?;
    Ok(accepted(&job))
}

/// Queue a `failed` or `dead` job again, with its attempts reset. Admins only.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 202, description = "Queued again", body = JobResponse, headers(("Location" = String))),
        (status = 403, description = "`FORBIDDEN`: Not an admin; or `EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: the job is neither `failed` nor `dead`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs/{id}/retry")]
pub async fn retry_job(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = state.jobs.retry(&caller.0, id.into_inner()).await?;
    Ok(accepted(&job))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_short_lower_case_identifiers() {
        assert_eq!(job_kind("export_users").as_deref(), Ok("export_users"));
        assert_eq!(job_kind("a1_b2").as_deref(), Ok("a1_b2"));
        for (raw, code) in [
            ("", "length"),
            (&"a".repeat(jobs::KIND_MAX + 1), "length"),
            ("Export", "charset"),
            ("export-users", "charset"),
            ("a\0", "charset"),
            ("é", "charset"),
        ] {
            assert_eq!(job_kind(raw).map_err(|v| v.code), Err(code), "{raw:?}");
        }
    }

    #[test]
    fn every_status_converts_both_ways() {
        for status in jobs::JobStatus::ALL {
            assert_eq!(jobs::JobStatus::from(JobStatus::from(status)), status);
            let json = serde_json::to_value(JobStatus::from(status)).ok();
            assert_eq!(json.as_ref().and_then(Value::as_str), Some(status.as_str()));
        }
    }
}
