//! The contract between the worker runtime and the code that does a job's
//! work: one [`JobHandler`] per kind, its [`RetryPolicy`], and the
//! [`JobContext`] through which a running handler reports progress.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use strata_domain::RepoError;
use strata_domain::files::FileError;
use strata_domain::jobs::Job;

use crate::ServiceError;

/// How often, how late and how many at once a kind runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before the job is `dead` (at least 1).
    pub max_attempts: i32,
    /// The delay before the second attempt.
    pub backoff_base: Duration,
    /// Each further attempt waits this many times longer...
    pub backoff_factor: f64,
    /// ...but never longer than this.
    pub backoff_cap: Duration,
    /// Jobs of this kind running at once in one process; `None` for as many
    /// as there are workers.
    pub concurrency: Option<usize>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_base: Duration::from_secs(5),
            backoff_factor: 4.0,
            backoff_cap: Duration::from_secs(3600),
            concurrency: None,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), with
    /// "equal jitter": half the exponential delay is fixed, the other half
    /// scaled by `jitter` in `[0, 1)`. The fixed half keeps retries from
    /// hammering a struggling dependency; the random half keeps many jobs that
    /// failed together from retrying together.
    pub fn delay(&self, attempt: i32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).clamp(0, 64);
        let base = self.backoff_base.as_secs_f64();
        let cap = self.backoff_cap.as_secs_f64();
        let full = (base * self.backoff_factor.max(1.0).powi(exponent)).min(cap);
        let half = full / 2.0;
        Duration::from_secs_f64(half + half * jitter.clamp(0.0, 1.0))
    }
}

/// Policies by kind: each handler's defaults, overridden from configuration.
#[derive(Debug, Clone, Default)]
pub struct JobPolicies {
    by_kind: HashMap<String, RetryPolicy>,
}

impl JobPolicies {
    pub fn set(&mut self, kind: &str, policy: RetryPolicy) {
        self.by_kind.insert(kind.to_owned(), policy);
    }

    /// The policy of `kind`, or the default one.
    pub fn of(&self, kind: &str) -> RetryPolicy {
        self.by_kind.get(kind).cloned().unwrap_or_default()
    }
}

/// Why an attempt ended without a result.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a dependency was down, a timeout).
    #[error("{0}")]
    Retry(String),
    /// Can never succeed (the input is unusable): failed at once.
    #[error("{0}")]
    Permanent(String),
    /// A cancel was requested; the handler stopped.
    #[error("cancelled")]
    Cancelled,
    /// The worker lost the job's lease (another worker now holds it): stop
    /// and record nothing.
    #[error("lease lost")]
    LeaseLost,
}

impl From<RepoError> for JobError {
    fn from(err: RepoError) -> Self {
        // Storage failures are transient as far as a job can tell; the
        // message is the error chain's head, which names no secret.
        Self::Retry(err.to_string())
    }
}

impl From<FileError> for JobError {
    fn from(err: FileError) -> Self {
        match err {
            FileError::NotFound | FileError::InvalidKey => Self::Permanent(err.to_string()),
            FileError::Io(_) => Self::Retry(err.to_string()),
        }
    }
}

impl From<ServiceError> for JobError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Validation(_) | ServiceError::NotFound | ServiceError::Forbidden => {
                Self::Permanent(err.to_string())
            }
            other => Self::Retry(other.to_string()),
        }
    }
}

/// What a running handler can tell the queue.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobContext: Send + Sync {
    /// Records progress (0–100, clamped) and renews the lease.
    ///
    /// # Errors
    /// [`JobError::Cancelled`] when a cancel was requested: the handler
    /// returns it as is, after undoing what it must. [`JobError::LeaseLost`]
    /// when another worker took the job over. A storage failure is not an
    /// error here: progress is advisory, and the lease is renewed anyway by
    /// the runtime.
    async fn progress(&self, percent: u8, message: &str) -> Result<(), JobError>;
}

/// The work of one job kind. Handlers run at least once per job: a crash
/// after the work but before the outcome is recorded runs it again, so every
/// handler must be idempotent (derive ids from the job, overwrite files).
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The kind this handler runs (`export_users`).
    fn kind(&self) -> &'static str;

    /// The defaults for this kind; configuration may override them.
    fn policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }

    /// Runs one attempt and returns the job's result.
    ///
    /// # Errors
    /// A [`JobError`] saying whether another attempt is worth it.
    async fn run(&self, job: &Job, ctx: &dyn JobContext) -> Result<Value, JobError>;
}

/// The handlers a worker runs, by kind.
pub type Handlers = Vec<Arc<dyn JobHandler>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            backoff_base: Duration::from_secs(10),
            backoff_factor: 2.0,
            backoff_cap: Duration::from_secs(60),
            concurrency: None,
        }
    }

    #[test]
    fn backoff_grows_by_the_factor_and_stops_at_the_cap() {
        let p = policy();
        // Without jitter, half of each full delay.
        let fixed: Vec<u64> = (1..=5).map(|a| p.delay(a, 0.0).as_secs()).collect();
        assert_eq!(fixed, vec![5, 10, 20, 30, 30]);
        // With the most jitter, the full delay.
        let full: Vec<u64> = (1..=5).map(|a| p.delay(a, 1.0).as_secs()).collect();
        assert_eq!(full, vec![10, 20, 40, 60, 60]);
    }

    #[test]
    fn jitter_stays_between_half_and_full_delay() {
        let p = policy();
        for jitter in [0.0, 0.25, 0.5, 0.999] {
            let d = p.delay(3, jitter).as_secs_f64();
            assert!((20.0..=40.0).contains(&d), "{d}");
        }
        // Out-of-range jitter and absurd attempts are clamped, never panic.
        assert_eq!(p.delay(3, 7.0).as_secs(), 40);
        assert_eq!(p.delay(i32::MAX, 0.0).as_secs(), 30);
        assert_eq!(p.delay(-3, 0.0).as_secs(), 5);
    }

    #[test]
    fn unknown_kinds_get_the_default_policy() {
        let mut policies = JobPolicies::default();
        policies.set("export_users", policy());
        assert_eq!(policies.of("export_users"), policy());
        assert_eq!(policies.of("other"), RetryPolicy::default());
    }
}
