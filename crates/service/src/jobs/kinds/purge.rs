//! The housekeeping kinds the scheduler fires: expired sessions, refresh
//! tokens, revocations, mailed account tokens, OIDC logins and idempotency
//! keys (`purge_auth`), and finished jobs with their
//! files past the retention period (`purge_jobs`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use strata_domain::accounts::AccountTokenRepository;
use strata_domain::auth::SessionRepository;
use strata_domain::files::{FileKey, FileStore};
use strata_domain::idempotency::IdempotencyRepository;
use strata_domain::jobs::{Job, JobRepository};
use strata_domain::oidc::OidcRepository;

use super::result_file;
use crate::jobs::{JobContext, JobError, JobHandler};

pub const PURGE_AUTH: &str = "purge_auth";
pub const PURGE_JOBS: &str = "purge_jobs";
/// Jobs purged per round; rounds repeat until nothing is left.
const BATCH: u64 = 500;

pub struct PurgeAuth {
    sessions: Arc<dyn SessionRepository>,
    account_tokens: Option<Arc<dyn AccountTokenRepository>>,
    oidc: Option<Arc<dyn OidcRepository>>,
    idempotency: Option<Arc<dyn IdempotencyRepository>>,
}

impl std::fmt::Debug for PurgeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurgeAuth").finish_non_exhaustive()
    }
}

impl PurgeAuth {
    pub fn new(sessions: Arc<dyn SessionRepository>) -> Self {
        Self {
            sessions,
            account_tokens: None,
            oidc: None,
            idempotency: None,
        }
    }

    /// Purges expired verification and reset tokens as well.
    #[must_use]
    pub fn with_account_tokens(mut self, tokens: Arc<dyn AccountTokenRepository>) -> Self {
        self.account_tokens = Some(tokens);
        self
    }

    /// Purges expired idempotency keys too.
    #[must_use]
    pub fn with_idempotency(mut self, keys: Arc<dyn IdempotencyRepository>) -> Self {
        self.idempotency = Some(keys);
        self
    }

    /// Purges expired OpenID Connect pending logins and login codes too.
    #[must_use]
    pub fn with_oidc(mut self, oidc: Arc<dyn OidcRepository>) -> Self {
        self.oidc = Some(oidc);
        self
    }
}

#[async_trait]
impl JobHandler for PurgeAuth {
    fn kind(&self) -> &'static str {
        PURGE_AUTH
    }

    async fn run(&self, _job: &Job, _ctx: &dyn JobContext) -> Result<Value, JobError> {
        let now = Utc::now();
        let mut rows = self.sessions.purge_expired(now).await?;
        if let Some(tokens) = &self.account_tokens {
            rows += tokens.purge_expired(now).await?;
        }
        if let Some(oidc) = &self.oidc {
            rows += oidc.purge_expired(now).await?;
        }
        if let Some(keys) = &self.idempotency {
            rows += keys.purge_expired(now).await?;
        }
        Ok(json!({ "deleted": rows }))
    }
}

pub struct PurgeJobs {
    jobs: Arc<dyn JobRepository>,
    files: Arc<dyn FileStore>,
    retention: Duration,
}

impl std::fmt::Debug for PurgeJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurgeJobs")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl PurgeJobs {
    pub fn new(
        jobs: Arc<dyn JobRepository>,
        files: Arc<dyn FileStore>,
        retention: Duration,
    ) -> Self {
        Self {
            jobs,
            files,
            retention,
        }
    }
}

/// The files a job owns: the one it produced and the upload it read.
fn files_of(job: &Job) -> Vec<FileKey> {
    let produced = job.result.as_ref().and_then(result_file).map(|file| file.0);
    let read = job
        .payload
        .get("file")
        .and_then(Value::as_str)
        .and_then(|key| FileKey::parse(key).ok());
    produced.into_iter().chain(read).collect()
}

#[async_trait]
impl JobHandler for PurgeJobs {
    fn kind(&self) -> &'static str {
        PURGE_JOBS
    }

    async fn run(&self, _job: &Job, _ctx: &dyn JobContext) -> Result<Value, JobError> {
        let retention = chrono::Duration::from_std(self.retention)
            .map_err(|err| JobError::Permanent(format!("retention out of range: {err}")))?;
        let before = Utc::now() - retention;
        let (mut jobs, mut files) = (0_u64, 0_u64);
        loop {
            let batch = self.jobs.finished_before(before, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            // Files first: a crash in between leaves rows whose files are
            // gone (deleted again harmlessly next time), never files no row
            // points at.
            for job in &batch {
                for key in files_of(job) {
                    self.files.delete(&key).await?;
                    files += 1;
                }
            }
            let full = batch.len() as u64 == BATCH;
            jobs += self
                .jobs
                .delete_finished(batch.into_iter().map(|job| job.id).collect())
                .await?;
            if !full {
                break;
            }
        }
        Ok(json!({ "jobs": jobs, "files": files }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::MockJobContext;
    use crate::jobs::kinds::tests_support::job_from;
    use strata_domain::files::MockFileStore;
    use strata_domain::jobs::{JobStatus, MockJobRepository, NewJob};

    #[tokio::test]
    async fn finished_jobs_go_with_their_files() {
        let mut export = job_from(NewJob::new("export_users", json!({}), 3, Utc::now()));
        export.status = JobStatus::Succeeded;
        export.result = Some(super::super::file_result(
            &FileKey::parse("exports/x.csv").unwrap(),
            "text/csv",
            "users.csv",
            3,
            serde_json::Map::new(),
        ));
        let mut import = job_from(NewJob::new(
            "import_items",
            json!({"file": "imports/y.csv"}),
            3,
            Utc::now(),
        ));
        import.status = JobStatus::Failed;
        let ids = vec![export.id, import.id];

        let mut jobs = MockJobRepository::new();
        let batch = vec![export, import];
        jobs.expect_finished_before()
            .times(1)
            .returning(move |_, _| Ok(batch.clone()));
        jobs.expect_delete_finished()
            .withf(move |deleted| *deleted == ids)
            .times(1)
            .returning(|ids| Ok(ids.len() as u64));
        let mut files = MockFileStore::new();
        files
            .expect_delete()
            .withf(|key| matches!(key.as_str(), "exports/x.csv" | "imports/y.csv"))
            .times(2)
            .returning(|_| Ok(()));

        let purge = PurgeJobs::new(Arc::new(jobs), Arc::new(files), Duration::from_secs(60));
        let result = purge
            .run(
                &job_from(NewJob::new(PURGE_JOBS, json!({}), 1, Utc::now())),
                &MockJobContext::new(),
            )
            .await
            .unwrap();
        assert_eq!(result, json!({"jobs": 2, "files": 2}));
    }

    #[tokio::test]
    async fn expired_account_tokens_go_with_the_expired_sessions() {
        let mut sessions = strata_domain::auth::MockSessionRepository::new();
        sessions
            .expect_purge_expired()
            .times(1)
            .returning(|_| Ok(3));
        let mut tokens = strata_domain::accounts::MockAccountTokenRepository::new();
        tokens.expect_purge_expired().times(1).returning(|_| Ok(2));
        let mut oidc = strata_domain::oidc::MockOidcRepository::new();
        oidc.expect_purge_expired().times(1).returning(|_| Ok(4));
        let purge = PurgeAuth::new(Arc::new(sessions))
            .with_account_tokens(Arc::new(tokens))
            .with_oidc(Arc::new(oidc));
        let result = purge
            .run(
                &job_from(NewJob::new(PURGE_AUTH, json!({}), 1, Utc::now())),
                &MockJobContext::new(),
            )
            .await
            .unwrap();
        assert_eq!(result, json!({"deleted": 9}));
    }
}
