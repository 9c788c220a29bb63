//! Background jobs: the caller's own (an admin's: everyone's). Another
//! account's job is `null` to read and `NOT_FOUND` to cancel, as on REST.

use async_graphql::{Context, Enum, Json, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use strata_domain::ValidationErrors;
use strata_domain::jobs::{self, Job};
use strata_service::ServiceError;
use uuid::Uuid;

use crate::context::{caller, services, writer};
use crate::error;
use crate::page::{self, PageOf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "JobStatus", remote = "strata_domain::jobs::JobStatus")]
pub(crate) enum JobStatusValue {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Dead,
}

#[derive(Debug)]
pub(crate) struct JobObject(pub Job);

#[Object(name = "Job")]
impl JobObject {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn status(&self) -> JobStatusValue {
        self.0.status.into()
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn max_attempts(&self) -> i32 {
        self.0.max_attempts
    }
    async fn run_at(&self) -> DateTime<Utc> {
        self.0.run_at
    }
    /// 0 to 100.
    async fn progress(&self) -> i16 {
        self.0.progress
    }
    async fn progress_message(&self) -> Option<&str> {
        self.0.progress_message.as_deref()
    }
    /// What the job produced; a result file is downloaded from
    /// `resultUrl`.
    async fn result(&self) -> Option<Json<Value>> {
        self.0.public_result().0.map(Json)
    }
    /// Where the result file is downloaded (REST), once the job succeeded.
    async fn result_url(&self) -> Option<String> {
        let (_, downloadable) = self.0.public_result();
        downloadable.then(|| format!("/api/v1/jobs/{}/result", self.0.id))
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn cancel_requested(&self) -> bool {
        self.0.cancel_requested
    }
    async fn created_by(&self) -> Option<Uuid> {
        self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Debug, Default)]
pub struct JobsQuery;

#[Object]
impl JobsQuery {
    /// The caller's jobs, newest first; an admin's list has everyone's.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        status: Option<JobStatusValue>,
        kind: Option<String>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<JobObject>> {
        let caller = caller(ctx)?;
        let page = page::request(limit, offset)?;
        let kind = kind
            .as_deref()
            .map(jobs::kind_filter)
            .transpose()
            .map_err(|v| error::validation(ValidationErrors::single("kind", v)))?;
        let jobs = services(ctx)?
            .jobs
            .list(&caller, status.map(Into::into), kind, page)
            .await
            .map_err(error::service)?;
        Ok(PageOf::from_page(jobs, JobObject))
    }

    /// One of the caller's jobs; `null` when there is none by that id that
    /// the caller may see.
    async fn job(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<JobObject>> {
        let caller = caller(ctx)?;
        match services(ctx)?.jobs.get(&caller, id).await {
            Ok(job) => Ok(Some(JobObject(job))),
            Err(ServiceError::NotFound) => Ok(None),
            Err(err) => Err(error::service(err)),
        }
    }
}

#[derive(Debug, Default)]
pub struct JobsMutation;

#[Object]
impl JobsMutation {
    /// Cancels a queued job at once, or asks a running one to stop at its
    /// next progress report (`cancelRequested`).
    async fn cancel_job(&self, ctx: &Context<'_>, id: Uuid) -> Result<JobObject> {
        let caller = writer(ctx).await?;
        services(ctx)?
            .jobs
            .cancel(&caller, id)
            .await
            .map(JobObject)
            .map_err(error::service)
    }
}
