//! Background jobs: the durable queue's model and its storage port.
//!
//! A job is a row in the application database. Workers claim due jobs under a
//! lease, renew the lease while they work, and record one outcome; a job whose
//! worker died is claimed again once its lease has expired. Every state change
//! is a guarded single-row update, so two workers can never both finish (or
//! both run) the same attempt.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::RepoError;
use crate::idempotency::Completion;
use crate::page::{Page, PageRequest};
use crate::validation::Violation;

/// Where a job is in its life. `Queued` and `Running` are live; the other
/// four are terminal and change only through an explicit retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for `run_at`, for a free worker, or for its next attempt.
    Queued,
    /// Held by a worker whose lease has not expired.
    Running,
    Succeeded,
    /// Refused by its handler as never able to succeed (bad payload, missing
    /// input): not retried.
    Failed,
    Cancelled,
    /// Failed `max_attempts` times; kept for inspection and manual retry.
    Dead,
}

impl JobStatus {
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// Kinds are short identifiers chosen in code (`export_users`).
pub const KIND_MAX: usize = 64;
/// Progress messages and errors are truncated to this many characters.
pub const MESSAGE_MAX: usize = 500;

/// Cuts `text` to [`MESSAGE_MAX`] characters, on a character boundary.
pub fn bounded_message(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_MAX) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// UUIDv7: ids sort by creation time.
    pub id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub status: JobStatus,
    /// Attempts started so far (a claim counts one).
    pub attempts: i32,
    pub max_attempts: i32,
    /// Not claimed before this instant (the next attempt's time after a failure).
    pub run_at: DateTime<Utc>,
    /// The worker holding the lease while `Running`.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// 0 to 100.
    pub progress: i16,
    pub progress_message: Option<String>,
    pub result: Option<Value>,
    /// The last attempt's failure, as the handler worded it (never a secret).
    pub last_error: Option<String>,
    /// Set on a running job by a cancel request; its handler stops at its
    /// next progress report.
    pub cancel_requested: bool,
    /// The account that asked for the job; `None` for scheduled jobs.
    pub created_by: Option<Uuid>,
    /// At most one job per key (scheduler ticks, idempotent enqueues).
    pub unique_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Job {
    /// The result as its owner may see it, and whether it names a result
    /// file that can be downloaded (the job succeeded). A file's storage
    /// `key` is the server's business; the rest of its description (type,
    /// name, size) is the client's.
    pub fn public_result(&self) -> (Option<Value>, bool) {
        let mut result = self.result.clone();
        let has_file = match result.as_mut().and_then(|r| r.get_mut("file")) {
            Some(Value::Object(file)) => {
                file.remove("key");
                true
            }
            _ => false,
        };
        (result, has_file && self.status == JobStatus::Succeeded)
    }
}

/// A kind to filter jobs by: 1 to [`KIND_MAX`] of `[a-z0-9_]`, as kinds
/// are named.
///
/// # Errors
/// A [`Violation`] (`charset` or `length`).
pub fn kind_filter(raw: &str) -> Result<String, Violation> {
    if !raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Violation::new(
            "charset",
            "may contain only the characters a-z, 0-9 and _",
        ));
    }
    if raw.is_empty() || raw.len() > KIND_MAX {
        return Err(Violation::new(
            "length",
            format!("must be 1 to {KIND_MAX} characters"),
        ));
    }
    Ok(raw.to_owned())
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub unique_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl NewJob {
    /// A job of `kind` due at `now`, with a fresh UUIDv7. Times are cut to
    /// microseconds, what both databases store, so the job answered at
    /// enqueue is the job read back later.
    pub fn new(kind: &str, payload: Value, max_attempts: i32, now: DateTime<Utc>) -> Self {
        let now = now.trunc_subsecs(6);
        Self {
            id: Uuid::now_v7(),
            kind: kind.to_owned(),
            payload,
            max_attempts: max_attempts.max(1),
            run_at: now,
            created_by: None,
            unique_key: None,
            created_at: now,
        }
    }

    #[must_use]
    pub fn created_by(mut self, user: Uuid) -> Self {
        self.created_by = Some(user);
        self
    }

    #[must_use]
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// The job as the queue holds it right after the enqueue: queued, no
    /// attempt made. For fakes and tests of the layers above.
    pub fn queued(self) -> Job {
        Job {
            id: self.id,
            kind: self.kind,
            payload: self.payload,
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: self.max_attempts,
            run_at: self.run_at,
            lease_owner: None,
            lease_expires_at: None,
            progress: 0,
            progress_message: None,
            result: None,
            last_error: None,
            cancel_requested: false,
            created_by: self.created_by,
            unique_key: self.unique_key,
            created_at: self.created_at,
            started_at: None,
            finished_at: None,
            updated_at: self.created_at,
        }
    }
}

/// What a worker asks for in one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Identifies the worker process (host, pid, random suffix).
    pub worker: String,
    /// Only jobs of these kinds.
    pub kinds: Vec<String>,
    /// At most this many jobs.
    pub limit: u32,
    /// The lease each claimed job gets.
    pub lease: Duration,
}

/// A running job's progress, recorded with a lease renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub percent: i16,
    pub message: Option<String>,
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease is renewed; keep working.
    Renewed { cancel_requested: bool },
    /// The job is no longer running under this worker (its lease expired and
    /// it was claimed again, or it was reaped): stop without recording anything.
    Lost,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded {
        result: Value,
    },
    /// Failed, with an attempt left: queued again for `run_at`.
    Retry {
        error: String,
        run_at: DateTime<Utc>,
    },
    /// Failed on its last attempt.
    Dead {
        error: String,
    },
    /// Failed for good, whatever attempts remain.
    Failed {
        error: String,
    },
    /// Stopped after a cancel request.
    Cancelled,
    /// Handed back unstarted-in-effect (graceful shutdown): queued again at
    /// once, and the attempt is not counted.
    Released,
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelResult {
    /// A queued job is now cancelled.
    Cancelled(Job),
    /// A running job was asked to stop; it will at its next progress report.
    Requested(Job),
    /// The job had already finished; nothing changed.
    AlreadyFinished(Job),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this account's jobs; `None` for every job (admins).
    pub created_by: Option<Uuid>,
    pub status: Option<JobStatus>,
    pub kind: Option<String>,
}

/// Jobs counted by kind and status, for the metrics gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub kind: String,
    pub status: JobStatus,
    pub count: u64,
}

/// The durable queue.
///
/// Every mutating call is one guarded statement (or one transaction), so its
/// effect is all or nothing and concurrent callers in any number of
/// processes see a consistent queue.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobRepository: Send + Sync {
    /// Inserts a job and wakes idle workers (in this process at once, in
    /// other processes where the backend can signal them).
    ///
    /// Returns `false`, writing nothing, when a job with the same
    /// `unique_key` already exists.
    ///
    /// With `once`, its attempt is completed in the same transaction (see
    /// [`crate::idempotency`]).
    ///
    /// # Errors
    /// Storage failures;
    /// [`RepoError::ClaimLost`] when `once`'s attempt lost its key (nothing
    /// is written).
    async fn enqueue_keyed(
        &self,
        job: NewJob,
        once: Option<Completion<NewJob>>,
    ) -> Result<bool, RepoError>;

    /// [`Self::enqueue_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::enqueue_keyed`].
    async fn enqueue(&self, job: NewJob) -> Result<bool, RepoError> {
        self.enqueue_keyed(job, None).await
    }

    /// Atomically moves up to `claim.limit` due queued jobs of the given
    /// kinds, oldest `run_at` first, to `Running` under `claim.worker`'s
    /// lease, counting one attempt each. Concurrent claimers get disjoint jobs.
    ///
    /// # Errors
    /// Storage failures.
    async fn claim(&self, claim: Claim, now: DateTime<Utc>) -> Result<Vec<Job>, RepoError>;

    /// Extends the lease of a job `worker` holds, recording `progress` if
    /// given, and reports whether a cancel was requested.
    ///
    /// # Errors
    /// Storage failures.
    async fn heartbeat(
        &self,
        id: Uuid,
        worker: &str,
        lease_until: DateTime<Utc>,
        progress: Option<Progress>,
    ) -> Result<Heartbeat, RepoError>;

    /// Records the outcome of the attempt `worker` holds. Returns `false`,
    /// changing nothing, when the worker no longer holds the job.
    ///
    /// # Errors
    /// Storage failures.
    async fn finish(
        &self,
        id: Uuid,
        worker: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Takes back every running job whose lease expired before `now`: queued
    /// again at once, or `Dead` if that was its last attempt. Returns how
    /// many were taken back.
    ///
    /// # Errors
    /// Storage failures.
    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError>;

    /// Cancels a queued job, or asks a running one to stop.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] for an unknown id.
    async fn cancel(&self, id: Uuid, now: DateTime<Utc>) -> Result<CancelResult, RepoError>;

    /// Queues a `Failed` or `Dead` job again with a fresh set of attempts.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] for an unknown id; [`RepoError::VersionMismatch`]
    /// when the job is in another status.
    async fn retry(&self, id: Uuid, now: DateTime<Utc>) -> Result<Job, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] for an unknown id.
    async fn find(&self, id: Uuid) -> Result<Job, RepoError>;

    /// A page of jobs matching `filter`, newest first, with the total.
    ///
    /// # Errors
    /// Storage failures.
    async fn list(&self, filter: JobFilter, page: PageRequest) -> Result<Page<Job>, RepoError>;

    /// Up to `limit` terminal jobs finished before `before`, oldest first.
    ///
    /// # Errors
    /// Storage failures.
    async fn finished_before(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Job>, RepoError>;

    /// Deletes these jobs if they are terminal; returns how many went.
    ///
    /// # Errors
    /// Storage failures.
    async fn delete_finished(&self, ids: Vec<Uuid>) -> Result<u64, RepoError>;

    /// Every (kind, status) pair with its count.
    ///
    /// # Errors
    /// Storage failures.
    async fn counts(&self) -> Result<Vec<JobCount>, RepoError>;

    /// The `run_at` of the oldest queued job that is due at `now`.
    ///
    /// # Errors
    /// Storage failures.
    async fn oldest_due(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, RepoError>;

    /// Resolves when a job may have been enqueued (in this process, or in
    /// another one where the backend can signal it), or after `max`,
    /// whichever comes first. Spurious wake-ups are allowed.
    async fn wait_for_jobs(&self, max: Duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_live_ones_are_not_terminal() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("done"), None);
        assert!(!JobStatus::Queued.is_terminal());
        assert!(!JobStatus::Running.is_terminal());
        assert!(JobStatus::Dead.is_terminal());
    }

    #[test]
    fn messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded_message("short"), "short");
        let long = "é".repeat(MESSAGE_MAX + 10);
        assert_eq!(bounded_message(&long).chars().count(), MESSAGE_MAX);
    }
}
