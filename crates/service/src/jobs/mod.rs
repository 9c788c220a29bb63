//! Background jobs as the API sees them: listing, inspecting, cancelling
//! and retrying jobs, starting the jobs the API offers (exports, imports),
//! and reading a finished job's file. The runtime that runs jobs lives in
//! `strata-worker`; the work of each kind is a [`JobHandler`] here.

mod handler;
pub mod kinds;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use strata_domain::RepoError;
use strata_domain::auth::Principal;
use strata_domain::files::{FileError, FileKey, FileStore};
use strata_domain::idempotency::Completion;
use strata_domain::jobs::{CancelResult, Job, JobFilter, JobRepository, JobStatus, NewJob};
use strata_domain::page::{Page, PageRequest};
use uuid::Uuid;

#[cfg(any(test, feature = "mocks"))]
pub use handler::MockJobContext;
pub use handler::{Handlers, JobContext, JobError, JobHandler, JobPolicies, RetryPolicy};
pub use kinds::export_users::ExportFormat;

use crate::ServiceError;
use crate::error::require_admin;

/// A finished job's file, ready to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFile {
    pub key: FileKey,
    pub content_type: String,
    /// The name offered in `Content-Disposition`.
    pub filename: String,
    pub size: u64,
}

/// Job use cases. A job is visible to the account that created it and to
/// admins; to anyone else it does not exist (404, never 403).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobService: Send + Sync {
    /// The caller's jobs, newest first; an admin's list has everyone's.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list(
        &self,
        caller: &Principal,
        status: Option<JobStatus>,
        kind: Option<String>,
        page: PageRequest,
    ) -> Result<Page<Job>, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown job or another account's.
    async fn get(&self, caller: &Principal, id: Uuid) -> Result<Job, ServiceError>;

    /// Cancels a queued job, or asks a running one to stop.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] as for `get`; [`ServiceError::Conflict`]
    /// when the job had already finished.
    async fn cancel(&self, caller: &Principal, id: Uuid) -> Result<Job, ServiceError>;

    /// Queues a `failed` or `dead` job again. Admins only.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] for a non-admin; [`ServiceError::NotFound`];
    /// [`ServiceError::Conflict`] for a job in another status.
    async fn retry(&self, caller: &Principal, id: Uuid) -> Result<Job, ServiceError>;

    /// The file a succeeded job produced, for its creator only.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown job, another account's
    /// (admins included: exports hold personal data meant for their
    /// requester), or one without a file; [`ServiceError::Conflict`] while
    /// the job has not succeeded.
    async fn result_file(&self, caller: &Principal, id: Uuid) -> Result<ResultFile, ServiceError>;

    /// Up to `max` bytes of a result file from `offset`.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the file is gone.
    async fn read_result(
        &self,
        file: &FileKey,
        offset: u64,
        max: usize,
    ) -> Result<Vec<u8>, ServiceError>;

    /// Queues an export of every account. Admins only.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] for a non-admin.
    async fn start_user_export(
        &self,
        caller: &Principal,
        format: ExportFormat,
        once: Option<Completion<Job>>,
    ) -> Result<Job, ServiceError>;

    /// Stores `csv` and queues its import as the caller's items. The header
    /// row and the encoding are checked now; rows are checked by the job.
    ///
    /// # Errors
    /// [`ServiceError::Validation`] (field `body`) for a file that is not
    /// UTF-8 or lacks the `title,description` header.
    async fn start_item_import(
        &self,
        caller: &Principal,
        csv: Vec<u8>,
        once: Option<Completion<Job>>,
    ) -> Result<Job, ServiceError>;
}

pub struct JobServiceImpl {
    jobs: Arc<dyn JobRepository>,
    files: Arc<dyn FileStore>,
    policies: JobPolicies,
}

impl std::fmt::Debug for JobServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobServiceImpl").finish_non_exhaustive()
    }
}

impl JobServiceImpl {
    pub fn new(
        jobs: Arc<dyn JobRepository>,
        files: Arc<dyn FileStore>,
        policies: JobPolicies,
    ) -> Self {
        Self {
            jobs,
            files,
            policies,
        }
    }

    /// The job, if the caller may see it.
    async fn visible(&self, caller: &Principal, id: Uuid) -> Result<Job, ServiceError> {
        let job = self.jobs.find(id).await?;
        if caller.is_admin() || job.created_by == Some(caller.user_id) {
            Ok(job)
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Jobs started through the API carry no unique key, so the insert
    /// always happens and the queued job is known without reading it back.
    async fn enqueue(
        &self,
        job: NewJob,
        once: Option<Completion<Job>>,
    ) -> Result<Job, ServiceError> {
        let once = once.map(|once| once.from_written(|job: &NewJob| job.clone().queued()));
        self.jobs.enqueue_keyed(job.clone(), once).await?;
        Ok(job.queued())
    }

    fn new_job(&self, kind: &str, payload: Value, caller: &Principal) -> NewJob {
        NewJob::new(
            kind,
            payload,
            self.policies.of(kind).max_attempts,
            Utc::now(),
        )
        .created_by(caller.user_id)
    }
}

fn file_error(err: FileError) -> ServiceError {
    match err {
        FileError::NotFound => ServiceError::NotFound,
        other => ServiceError::internal("File storage failed", other),
    }
}

#[async_trait]
impl JobService for JobServiceImpl {
    async fn list(
        &self,
        caller: &Principal,
        status: Option<JobStatus>,
        kind: Option<String>,
        page: PageRequest,
    ) -> Result<Page<Job>, ServiceError> {
        let filter = JobFilter {
            created_by: (!caller.is_admin()).then_some(caller.user_id),
            status,
            kind,
        };
        Ok(self.jobs.list(filter, page).await?)
    }

    async fn get(&self, caller: &Principal, id: Uuid) -> Result<Job, ServiceError> {
        self.visible(caller, id).await
    }

    async fn cancel(&self, caller: &Principal, id: Uuid) -> Result<Job, ServiceError> {
        self.visible(caller, id).await?;
        match self.jobs.cancel(id, Utc::now()).await? {
            CancelResult::Cancelled(job) | CancelResult::Requested(job) => Ok(job),
            CancelResult::AlreadyFinished(_) => {
                Err(ServiceError::Conflict("the job has already finished"))
            }
        }
    }

    async fn retry(&self, caller: &Principal, id: Uuid) -> Result<Job, ServiceError> {
        require_admin(caller)?;
        match self.jobs.retry(id, Utc::now()).await {
            Ok(job) => Ok(job),
            Err(RepoError::VersionMismatch) => Err(ServiceError::Conflict(
                "only failed or dead jobs can be retried",
            )),
            Err(err) => Err(err.into()),
        }
    }

    async fn result_file(&self, caller: &Principal, id: Uuid) -> Result<ResultFile, ServiceError> {
        let job = self.jobs.find(id).await?;
        if job.created_by != Some(caller.user_id) {
            return Err(ServiceError::NotFound);
        }
        if job.status != JobStatus::Succeeded {
            return Err(ServiceError::Conflict("the job has not succeeded"));
        }
        let file = job
            .result
            .as_ref()
            .and_then(kinds::result_file)
            .ok_or(ServiceError::NotFound)?;
        let size = self.files.size(&file.0).await.map_err(file_error)?;
        Ok(ResultFile {
            key: file.0,
            content_type: file.1,
            filename: file.2,
            size,
        })
    }

    async fn read_result(
        &self,
        file: &FileKey,
        offset: u64,
        max: usize,
    ) -> Result<Vec<u8>, ServiceError> {
        self.files.read(file, offset, max).await.map_err(file_error)
    }

    async fn start_user_export(
        &self,
        caller: &Principal,
        format: ExportFormat,
        once: Option<Completion<Job>>,
    ) -> Result<Job, ServiceError> {
        require_admin(caller)?;
        let job = self.new_job(
            kinds::export_users::KIND,
            json!({ "format": format.as_str() }),
            caller,
        );
        self.enqueue(job, once).await
    }

    async fn start_item_import(
        &self,
        caller: &Principal,
        csv: Vec<u8>,
        once: Option<Completion<Job>>,
    ) -> Result<Job, ServiceError> {
        kinds::import_items::check_upload(&csv)?;
        let job = self.new_job(kinds::import_items::KIND, Value::Null, caller);
        let key = kinds::import_items::upload_key(job.id)?;
        self.files.put(&key, csv).await.map_err(file_error)?;
        let job = NewJob {
            payload: json!({ "file": key.as_str(), "owner_id": caller.user_id }),
            ..job
        };
        match self.enqueue(job, once).await {
            Ok(job) => Ok(job),
            Err(err) => {
                // No job will ever read the upload: do not keep it.
                if let Err(cleanup) = self.files.delete(&key).await {
                    tracing::warn!(error = %cleanup, file = key.as_str(), "could not remove an orphaned upload");
                }
                Err(err)
            }
        }
    }
}
