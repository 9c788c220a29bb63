//! The runtime against an in-memory queue with the repository's semantics.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use strata_domain::RepoError;
use strata_domain::jobs::{
    CancelResult, Claim, Heartbeat, Job, JobCount, JobFilter, JobRepository, JobStatus, NewJob,
    Outcome, Progress,
};
use strata_domain::page::{Page, PageRequest};
use strata_service::jobs::{JobContext, JobError, JobHandler, JobPolicies, RetryPolicy};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{Runtime, WorkerConfig};

pub(crate) fn job_from(new: NewJob) -> Job {
    new.queued()
}

/// A queue in memory: enough of the repository's contract for the runtime.
#[derive(Default)]
struct MemoryQueue {
    jobs: Mutex<Vec<Job>>,
    wake: Notify,
    /// The limit and the number of jobs of every claim that took some.
    claims: Mutex<Vec<(u32, usize)>>,
}

impl MemoryQueue {
    fn get(&self, id: Uuid) -> Job {
        self.jobs
            .lock()
            .unwrap()
            .iter()
            .find(|j| j.id == id)
            .cloned()
            .unwrap()
    }

    fn with<T>(&self, id: Uuid, worker: &str, f: impl FnOnce(&mut Job) -> T) -> Option<T> {
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs.iter_mut().find(|j| {
            j.id == id && j.status == JobStatus::Running && j.lease_owner.as_deref() == Some(worker)
        })?;
        Some(f(job))
    }
}

#[async_trait]
impl JobRepository for MemoryQueue {
    async fn enqueue_keyed(
        &self,
        job: NewJob,
        _once: Option<strata_domain::idempotency::Completion<NewJob>>,
    ) -> Result<bool, RepoError> {
        self.jobs.lock().unwrap().push(job_from(job));
        self.wake.notify_waiters();
        Ok(true)
    }

    async fn claim(&self, claim: Claim, now: DateTime<Utc>) -> Result<Vec<Job>, RepoError> {
        let mut jobs = self.jobs.lock().unwrap();
        let mut claimed = Vec::new();
        for job in jobs.iter_mut() {
            if claimed.len() as u32 == claim.limit {
                break;
            }
            if job.status == JobStatus::Queued
                && job.run_at <= now
                && claim.kinds.contains(&job.kind)
            {
                job.status = JobStatus::Running;
                job.attempts += 1;
                job.lease_owner = Some(claim.worker.clone());
                job.lease_expires_at = Some(now + chrono::Duration::from_std(claim.lease).unwrap());
                claimed.push(job.clone());
            }
        }
        if !claimed.is_empty() {
            self.claims
                .lock()
                .unwrap()
                .push((claim.limit, claimed.len()));
        }
        Ok(claimed)
    }

    async fn heartbeat(
        &self,
        id: Uuid,
        worker: &str,
        lease_until: DateTime<Utc>,
        progress: Option<Progress>,
    ) -> Result<Heartbeat, RepoError> {
        Ok(self
            .with(id, worker, |job| {
                job.lease_expires_at = Some(lease_until);
                if let Some(progress) = progress {
                    job.progress = progress.percent;
                    job.progress_message = progress.message;
                }
                Heartbeat::Renewed {
                    cancel_requested: job.cancel_requested,
                }
            })
            .unwrap_or(Heartbeat::Lost))
    }

    async fn finish(
        &self,
        id: Uuid,
        worker: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        Ok(self
            .with(id, worker, |job| {
                job.lease_owner = None;
                match outcome {
                    Outcome::Succeeded { result } => {
                        job.status = JobStatus::Succeeded;
                        job.result = Some(result);
                    }
                    Outcome::Retry { error, run_at } => {
                        job.status = JobStatus::Queued;
                        job.run_at = run_at;
                        job.last_error = Some(error);
                    }
                    Outcome::Dead { error } => {
                        job.status = JobStatus::Dead;
                        job.last_error = Some(error);
                    }
                    Outcome::Failed { error } => {
                        job.status = JobStatus::Failed;
                        job.last_error = Some(error);
                    }
                    Outcome::Cancelled => job.status = JobStatus::Cancelled,
                    Outcome::Released => {
                        job.status = JobStatus::Queued;
                        job.attempts -= 1;
                        job.run_at = now;
                    }
                }
            })
            .is_some())
    }

    async fn reap_expired(&self, _now: DateTime<Utc>) -> Result<u64, RepoError> {
        Ok(0)
    }

    async fn cancel(&self, id: Uuid, _now: DateTime<Utc>) -> Result<CancelResult, RepoError> {
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs
            .iter_mut()
            .find(|j| j.id == id)
            .ok_or(RepoError::NotFound)?;
        job.cancel_requested = true;
        Ok(CancelResult::Requested(job.clone()))
    }

    async fn retry(&self, _id: Uuid, _now: DateTime<Utc>) -> Result<Job, RepoError> {
        Err(RepoError::NotFound)
    }

    async fn find(&self, id: Uuid) -> Result<Job, RepoError> {
        Ok(self.get(id))
    }

    async fn list(&self, _f: JobFilter, _p: PageRequest) -> Result<Page<Job>, RepoError> {
        Err(RepoError::NotFound)
    }

    async fn finished_before(&self, _b: DateTime<Utc>, _l: u64) -> Result<Vec<Job>, RepoError> {
        Ok(Vec::new())
    }

    async fn delete_finished(&self, _ids: Vec<Uuid>) -> Result<u64, RepoError> {
        Ok(0)
    }

    async fn counts(&self) -> Result<Vec<JobCount>, RepoError> {
        Ok(Vec::new())
    }

    async fn oldest_due(&self, _now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, RepoError> {
        Ok(None)
    }

    async fn wait_for_jobs(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.wake.notified()).await;
    }
}

/// A handler whose behaviour each test picks.
struct Scripted {
    kind: &'static str,
    policy: RetryPolicy,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    behaviour: fn(&Job) -> Behaviour,
}

enum Behaviour {
    Succeed,
    Fail,
    /// Reports progress every 20 ms until told to stop.
    ReportUntilStopped,
    Sleep(Duration),
}

#[async_trait]
impl JobHandler for Scripted {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn policy(&self) -> RetryPolicy {
        self.policy.clone()
    }

    async fn run(&self, job: &Job, ctx: &dyn JobContext) -> Result<Value, JobError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        let result = match (self.behaviour)(job) {
            Behaviour::Succeed => Ok(json!({"echo": job.payload})),
            Behaviour::Fail => Err(JobError::Retry("upstream down".into())),
            Behaviour::ReportUntilStopped => loop {
                if let Err(err) = ctx.progress(10, "working").await {
                    break Err(err);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            },
            Behaviour::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(Value::Null)
            }
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

fn handler(
    kind: &'static str,
    policy: RetryPolicy,
    behaviour: fn(&Job) -> Behaviour,
) -> Arc<Scripted> {
    Arc::new(Scripted {
        kind,
        policy,
        running: AtomicUsize::new(0),
        most_at_once: AtomicUsize::new(0),
        behaviour,
    })
}

fn config(concurrency: usize, grace: Duration) -> WorkerConfig {
    WorkerConfig {
        id: "test-worker".into(),
        concurrency,
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(3),
        shutdown_grace: grace,
    }
}

fn start(
    queue: &Arc<MemoryQueue>,
    handler: Arc<Scripted>,
    config: WorkerConfig,
) -> crate::RuntimeHandle {
    start_all(queue, vec![handler], config)
}

fn start_all(
    queue: &Arc<MemoryQueue>,
    handlers: Vec<Arc<Scripted>>,
    config: WorkerConfig,
) -> crate::RuntimeHandle {
    let mut policies = JobPolicies::default();
    for handler in &handlers {
        policies.set(handler.kind, handler.policy.clone());
    }
    let handlers: Vec<Arc<dyn JobHandler>> = handlers
        .into_iter()
        .map(|h| h as Arc<dyn JobHandler>)
        .collect();
    Runtime::new(queue.clone(), handlers, policies, config).start()
}

#[tokio::test]
async fn a_limited_kind_with_nothing_due_holds_no_slot_back() {
    let queue = Arc::new(MemoryQueue::default());
    // The limited kind's limit exceeds the worker's slots, and none of its
    // jobs exist: the other kind must still run.
    let mail = handler(
        "mail",
        RetryPolicy {
            concurrency: Some(8),
            ..fast_retries(1)
        },
        |_| Behaviour::Succeed,
    );
    let echo = handler("echo", fast_retries(1), |_| Behaviour::Succeed);
    let runtime = start_all(&queue, vec![mail, echo], config(2, Duration::from_secs(1)));
    let id = enqueue(&queue, "echo", 1).await;
    until(&queue, id, JobStatus::Succeeded).await;
    runtime.shutdown().await;
}

async fn until(queue: &MemoryQueue, id: Uuid, status: JobStatus) -> Job {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let job = queue.get(id);
            if job.status == status {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job never became {status:?}: {:?}", queue.get(id)))
}

async fn enqueue(queue: &MemoryQueue, kind: &str, max_attempts: i32) -> Uuid {
    let job = NewJob::new(kind, json!({"n": 1}), max_attempts, Utc::now());
    let id = job.id;
    queue.enqueue(job).await.unwrap();
    id
}

fn fast_retries(max_attempts: i32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        backoff_base: Duration::from_millis(10),
        backoff_factor: 1.0,
        backoff_cap: Duration::from_millis(10),
        concurrency: None,
    }
}

#[tokio::test]
async fn an_enqueued_job_runs_and_its_result_is_recorded() {
    let queue = Arc::new(MemoryQueue::default());
    let runtime = start(
        &queue,
        handler("echo", fast_retries(3), |_| Behaviour::Succeed),
        config(2, Duration::from_secs(1)),
    );
    let id = enqueue(&queue, "echo", 3).await;
    let job = until(&queue, id, JobStatus::Succeeded).await;
    assert_eq!(job.result, Some(json!({"echo": {"n": 1}})));
    assert_eq!(job.attempts, 1);
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_failing_job_is_retried_then_dead_after_its_last_attempt() {
    let queue = Arc::new(MemoryQueue::default());
    let runtime = start(
        &queue,
        handler("flaky", fast_retries(3), |_| Behaviour::Fail),
        config(2, Duration::from_secs(1)),
    );
    let id = enqueue(&queue, "flaky", 3).await;
    let job = until(&queue, id, JobStatus::Dead).await;
    assert_eq!(job.attempts, 3);
    assert_eq!(job.last_error.as_deref(), Some("upstream down"));
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_running_job_stops_at_its_next_progress_report_after_a_cancel() {
    let queue = Arc::new(MemoryQueue::default());
    let runtime = start(
        &queue,
        handler("long", fast_retries(3), |_| Behaviour::ReportUntilStopped),
        config(2, Duration::from_secs(1)),
    );
    let id = enqueue(&queue, "long", 3).await;
    until(&queue, id, JobStatus::Running).await;
    queue.cancel(id, Utc::now()).await.unwrap();
    let job = until(&queue, id, JobStatus::Cancelled).await;
    assert_eq!(job.progress, 10);
    runtime.shutdown().await;
}

#[tokio::test]
async fn attempts_that_ended_together_are_replaced_by_one_claim() {
    let queue = Arc::new(MemoryQueue::default());
    let handler = handler("echo", fast_retries(1), |_| {
        Behaviour::Sleep(Duration::from_millis(50))
    });
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(enqueue(&queue, "echo", 1).await);
    }
    let runtime = start(&queue, handler, config(4, Duration::from_secs(1)));
    for id in ids {
        until(&queue, id, JobStatus::Succeeded).await;
    }
    runtime.shutdown().await;
    // The four first attempts end on one timer tick: the slots they free
    // are claimed at once, not one claim (one database round trip) each.
    assert_eq!(*queue.claims.lock().unwrap(), vec![(4, 4), (4, 4)]);
}

#[tokio::test]
async fn a_kind_never_runs_more_at_once_than_its_limit() {
    let queue = Arc::new(MemoryQueue::default());
    let limited = RetryPolicy {
        concurrency: Some(2),
        ..fast_retries(1)
    };
    let handler = handler("mail", limited, |_| {
        Behaviour::Sleep(Duration::from_millis(30))
    });
    let runtime = start(&queue, handler.clone(), config(8, Duration::from_secs(1)));
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(enqueue(&queue, "mail", 1).await);
    }
    for id in ids {
        until(&queue, id, JobStatus::Succeeded).await;
    }
    assert_eq!(handler.most_at_once.load(Ordering::SeqCst), 2);
    runtime.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_short_jobs_finish_and_hands_long_ones_back() {
    let queue = Arc::new(MemoryQueue::default());
    let handler = handler("mixed", fast_retries(3), |job| {
        if job.payload["n"] == 1 {
            Behaviour::Sleep(Duration::from_millis(100))
        } else {
            Behaviour::Sleep(Duration::from_secs(60))
        }
    });
    let runtime = start(&queue, handler, config(4, Duration::from_millis(500)));
    let short = enqueue(&queue, "mixed", 3).await;
    let long = NewJob::new("mixed", json!({"n": 2}), 3, Utc::now());
    let long_id = long.id;
    queue.enqueue(long).await.unwrap();
    until(&queue, long_id, JobStatus::Running).await;
    until(&queue, short, JobStatus::Running).await;
    runtime.shutdown().await;
    assert_eq!(queue.get(short).status, JobStatus::Succeeded);
    let long = queue.get(long_id);
    assert_eq!(long.status, JobStatus::Queued);
    // A released attempt does not count against the job.
    assert_eq!(long.attempts, 0);
}

#[tokio::test]
async fn a_job_whose_lease_was_taken_over_records_nothing() {
    let queue = Arc::new(MemoryQueue::default());
    let runtime = start(
        &queue,
        handler("long", fast_retries(3), |_| Behaviour::ReportUntilStopped),
        config(1, Duration::from_secs(1)),
    );
    let id = enqueue(&queue, "long", 3).await;
    until(&queue, id, JobStatus::Running).await;
    // Another worker reclaimed it after an (imagined) expiry.
    queue
        .jobs
        .lock()
        .unwrap()
        .iter_mut()
        .for_each(|job| job.lease_owner = Some("other".into()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let job = queue.get(id);
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.lease_owner.as_deref(), Some("other"));
    runtime.shutdown().await;
}
