//! One attempt of one job: the handler runs while a companion renews the
//! lease, and exactly one outcome is recorded, guarded by the lease, so an
//! attempt that lost its job to another worker changes nothing.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use futures_util::FutureExt as _;
use strata_domain::jobs::{Heartbeat, Job, JobRepository, Outcome, Progress, bounded_message};
use strata_service::jobs::{JobContext, JobError, JobHandler, JobPolicies};
use tokio::sync::{Notify, watch};
use tracing::Instrument as _;

use crate::WorkerConfig;
use crate::metrics;

/// What every attempt of this process shares.
pub(crate) struct Shared {
    pub(crate) repo: Arc<dyn JobRepository>,
    pub(crate) handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    pub(crate) policies: JobPolicies,
    pub(crate) config: WorkerConfig,
}

/// The handler's view of its job: progress reports renew the lease and
/// carry back a cancel request.
struct Context {
    repo: Arc<dyn JobRepository>,
    job: uuid::Uuid,
    worker: String,
    lease: Duration,
    /// Set by the lease keeper when a renewal saw a cancel request.
    cancel_requested: AtomicBool,
    /// Set when a renewal found the job held by someone else.
    lost: AtomicBool,
    lost_signal: Notify,
}

impl Context {
    fn lease_until(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX)
    }

    fn note(&self, heartbeat: Heartbeat) {
        match heartbeat {
            Heartbeat::Renewed { cancel_requested } => {
                if cancel_requested {
                    self.cancel_requested.store(true, Ordering::Release);
                }
            }
            Heartbeat::Lost => {
                self.lost.store(true, Ordering::Release);
                self.lost_signal.notify_waiters();
            }
        }
    }

    /// Renews the lease every third of its length until dropped.
    async fn keep_lease(&self) {
        let mut ticker = tokio::time::interval(self.lease / 3);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match self
                .repo
                .heartbeat(self.job, &self.worker, self.lease_until(), None)
                .await
            {
                Ok(heartbeat) => self.note(heartbeat),
                // The next tick tries again; two misses still leave a third
                // of the lease.
                Err(err) => tracing::warn!(error = %err, "lease renewal failed"),
            }
        }
    }

    async fn until_lost(&self) {
        loop {
            let signal = self.lost_signal.notified();
            if self.lost.load(Ordering::Acquire) {
                return;
            }
            signal.await;
        }
    }
}

#[async_trait]
impl JobContext for Context {
    async fn progress(&self, percent: u8, message: &str) -> Result<(), JobError> {
        let progress = Progress {
            percent: i16::from(percent.min(100)),
            message: Some(bounded_message(message)),
        };
        match self
            .repo
            .heartbeat(self.job, &self.worker, self.lease_until(), Some(progress))
            .await
        {
            Ok(heartbeat) => self.note(heartbeat),
            Err(err) => tracing::warn!(error = %err, "progress report failed"),
        }
        if self.lost.load(Ordering::Acquire) {
            Err(JobError::LeaseLost)
        } else if self.cancel_requested.load(Ordering::Acquire) {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Runs one claimed job to an outcome. `abandon` turns true when the
/// shutdown grace period is over: the attempt is then handed back.
pub(crate) async fn run(shared: Arc<Shared>, job: Job, mut abandon: watch::Receiver<bool>) {
    let span = tracing::info_span!("job", job.id = %job.id, job.kind = %job.kind, job.attempt = job.attempts);
    async move {
        let started = Instant::now();
        let waited = (Utc::now() - job.run_at).to_std().unwrap_or_default();
        metrics::queue_wait(&job.kind, waited);
        let context = Context {
            repo: shared.repo.clone(),
            job: job.id,
            worker: shared.config.id.clone(),
            lease: shared.config.lease,
            cancel_requested: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            lost_signal: Notify::new(),
        };
        let outcome = match shared.handlers.get(job.kind.as_str()) {
            None => Some(Err(JobError::Permanent(format!(
                "no handler for kind `{}` in this worker",
                job.kind
            )))),
            Some(handler) => {
                let attempt = AssertUnwindSafe(handler.run(&job, &context)).catch_unwind();
                tokio::select! {
                    result = attempt => Some(result.unwrap_or_else(|_| {
                        Err(JobError::Retry("the handler panicked".into()))
                    })),
                    () = context.keep_lease() => Some(Err(JobError::LeaseLost)),
                    () = context.until_lost() => Some(Err(JobError::LeaseLost)),
                    _ = abandon.wait_for(|abandoned| *abandoned) => None,
                }
            }
        };
        let Some(outcome) = outcome else {
            tracing::warn!("shutdown grace period over; handing the job back");
            record(&shared, &job, Outcome::Released, "released", started).await;
            return;
        };
        let (outcome, label) = decide(&shared.policies, &job, outcome);
        match outcome {
            Some(outcome) => record(&shared, &job, outcome, label, started).await,
            None => tracing::warn!("lease lost mid-run; another worker owns the job now"),
        }
    }
    .instrument(span)
    .await;
}

/// Turns an attempt's result into the outcome to record (none when the
/// lease was lost) and its metrics label.
pub(crate) fn decide(
    policies: &JobPolicies,
    job: &Job,
    result: Result<serde_json::Value, JobError>,
) -> (Option<Outcome>, &'static str) {
    match result {
        Ok(result) => (Some(Outcome::Succeeded { result }), "succeeded"),
        Err(JobError::Cancelled) => (Some(Outcome::Cancelled), "cancelled"),
        Err(JobError::LeaseLost) => (None, "lost"),
        Err(JobError::Permanent(error)) => (
            Some(Outcome::Failed {
                error: bounded_message(&error),
            }),
            "failed",
        ),
        Err(JobError::Retry(error)) if job.attempts >= job.max_attempts => (
            Some(Outcome::Dead {
                error: bounded_message(&error),
            }),
            "dead",
        ),
        Err(JobError::Retry(error)) => {
            let delay = policies
                .of(&job.kind)
                .delay(job.attempts, rand::random::<f64>());
            let run_at =
                Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            (
                Some(Outcome::Retry {
                    error: bounded_message(&error),
                    run_at,
                }),
                "retry",
            )
        }
    }
}

/// Records `outcome`, retrying while the database is unreachable. If it
/// stays unreachable past the lease, the job is reaped and runs again: the
/// queue promises at least once, never "at most once".
async fn record(
    shared: &Shared,
    job: &Job,
    outcome: Outcome,
    label: &'static str,
    started: Instant,
) {
    let mut wait = Duration::from_millis(200);
    let deadline = Instant::now() + shared.config.lease;
    loop {
        match shared
            .repo
            .finish(job.id, &shared.config.id, outcome.clone(), Utc::now())
            .await
        {
            Ok(true) => {
                metrics::finished(&job.kind, label, started.elapsed());
                tracing::info!(
                    outcome = label,
                    took_ms = started.elapsed().as_millis() as u64,
                    "job attempt finished"
                );
                return;
            }
            Ok(false) => {
                tracing::warn!(
                    outcome = label,
                    "the job's lease was lost before its outcome was recorded"
                );
                return;
            }
            Err(err) if Instant::now() + wait < deadline => {
                tracing::warn!(error = %err, "recording the outcome failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(err) => {
                tracing::error!(error = %err, outcome = label, "could not record the outcome; the job will run again after its lease expires");
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
