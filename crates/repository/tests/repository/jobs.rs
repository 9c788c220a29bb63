//! The job queue's storage: enqueueing, claiming, reads and wake-ups. The
//! lease and outcome transitions are in `jobs_lease.rs`.

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use strata_domain::RepoError;
use strata_domain::jobs::{Claim, Job, JobRepository, JobStatus, NewJob, Outcome};
use strata_repository::SeaJobRepository;
use uuid::Uuid;

use crate::common::{count, create_user, now, test_databases};

/// Long enough never to be reached in a passing test.
pub const NEVER: StdDuration = StdDuration::from_secs(30);
/// How long a test waits for a wake-up before calling it lost.
pub const PATIENCE: StdDuration = StdDuration::from_secs(5);

pub fn new_job(kind: &str, run_at: DateTime<Utc>) -> NewJob {
    let mut job = NewJob::new(kind, json!({"kind": kind}), 3, now());
    job.run_at = run_at;
    job
}

pub fn claim(worker: &str, kinds: &[&str], limit: u32) -> Claim {
    Claim {
        worker: worker.to_owned(),
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        limit,
        lease: StdDuration::from_secs(30),
    }
}

/// Enqueues a job of `kind` due at `run_at` and returns it as stored.
pub async fn enqueued(repo: &SeaJobRepository, kind: &str, run_at: DateTime<Utc>) -> Job {
    let job = new_job(kind, run_at);
    assert!(repo.enqueue(job.clone()).await.unwrap());
    repo.find(job.id).await.unwrap()
}

/// A job of kind `a` claimed by `w1` at `t` (lease 30 s).
pub async fn running(repo: &SeaJobRepository, t: DateTime<Utc>) -> Job {
    let job = enqueued(repo, "a", t).await;
    let claimed = repo.claim(claim("w1", &["a"], 1), t).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, job.id);
    claimed.into_iter().next().unwrap()
}

pub fn ids(jobs: &[Job]) -> Vec<Uuid> {
    jobs.iter().map(|j| j.id).collect()
}

#[tokio::test]
async fn an_enqueued_job_is_found_queued_with_everything_it_was_given() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let job = NewJob::new(
            "export_users",
            json!({"format": "csv", "n": [1, 2]}),
            5,
            now(),
        )
        .created_by(ann.id)
        .unique_key("export:ann");
        assert!(repo.enqueue(job.clone()).await.unwrap(), "{}", db.backend);

        let found = repo.find(job.id).await.unwrap();
        let expected = Job {
            id: job.id,
            kind: "export_users".into(),
            payload: job.payload.clone(),
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: 5,
            run_at: job.run_at,
            lease_owner: None,
            lease_expires_at: None,
            progress: 0,
            progress_message: None,
            result: None,
            last_error: None,
            cancel_requested: false,
            created_by: Some(ann.id),
            unique_key: Some("export:ann".into()),
            created_at: job.created_at,
            started_at: None,
            finished_at: None,
            updated_at: job.created_at,
        };
        assert_eq!(found, expected, "{}", db.backend);
        assert!(matches!(
            repo.find(Uuid::now_v7()).await,
            Err(RepoError::NotFound)
        ));
    }
}

#[tokio::test]
async fn a_second_job_with_the_same_unique_key_is_refused_without_error() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let first = new_job("tick", now()).unique_key("tick:2026-12-05T10:00");
        let second = new_job("tick", now()).unique_key("tick:2026-12-05T10:00");
        assert!(repo.enqueue(first.clone()).await.unwrap());
        assert!(
            !repo.enqueue(second.clone()).await.unwrap(),
            "{}",
            db.backend
        );
        assert!(matches!(
            repo.find(second.id).await,
            Err(RepoError::NotFound)
        ));
        // Jobs without a key never collide.
        assert!(repo.enqueue(new_job("tick", now())).await.unwrap());
        assert!(repo.enqueue(new_job("tick", now())).await.unwrap());
        assert_eq!(count(&db.conn, "jobs", "1 = 1").await, 3, "{}", db.backend);
    }
}

#[tokio::test]
async fn a_job_for_a_missing_account_is_not_found() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let job = new_job("export", now()).created_by(Uuid::now_v7());
        assert!(
            matches!(repo.enqueue(job).await, Err(RepoError::NotFound)),
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn claim_takes_only_due_jobs_of_the_requested_kinds_by_run_at_then_id() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let late = enqueued(&repo, "a", t - Duration::seconds(1)).await;
        let early = enqueued(&repo, "a", t - Duration::seconds(3)).await;
        let other_kind = enqueued(&repo, "b", t - Duration::seconds(5)).await;
        // Same run_at: the smaller (earlier v7) id first.
        let tie_1 = enqueued(&repo, "c", t - Duration::seconds(2)).await;
        let tie_2 = enqueued(&repo, "a", t - Duration::seconds(2)).await;
        let future = enqueued(&repo, "a", t + Duration::seconds(60)).await;

        let first = repo.claim(claim("w1", &["a", "c"], 3), t).await.unwrap();
        assert_eq!(
            ids(&first),
            [early.id, tie_1.id, tie_2.id],
            "{}",
            db.backend
        );
        let rest = repo.claim(claim("w1", &["a", "c"], 3), t).await.unwrap();
        assert_eq!(ids(&rest), [late.id], "{}", db.backend);
        assert!(
            repo.claim(claim("w1", &["a", "c"], 3), t)
                .await
                .unwrap()
                .is_empty()
        );

        for untouched in [&other_kind, &future] {
            assert_eq!(
                repo.find(untouched.id).await.unwrap().status,
                JobStatus::Queued
            );
        }
        // Due once its time comes.
        let due = repo
            .claim(claim("w1", &["a"], 3), future.run_at)
            .await
            .unwrap();
        assert_eq!(ids(&due), [future.id], "{}", db.backend);
    }
}

#[tokio::test]
async fn claim_counts_an_attempt_and_takes_a_lease_and_the_first_start_is_kept() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let job = enqueued(&repo, "a", t).await;
        // Nothing asked, nothing claimed.
        assert!(repo.claim(claim("w1", &[], 5), t).await.unwrap().is_empty());
        assert!(
            repo.claim(claim("w1", &["a"], 0), t)
                .await
                .unwrap()
                .is_empty()
        );

        let claimed = repo.claim(claim("w1", &["a"], 5), t).await.unwrap();
        let running = repo.find(job.id).await.unwrap();
        assert_eq!(claimed, std::slice::from_ref(&running), "{}", db.backend);
        assert_eq!(running.status, JobStatus::Running);
        assert_eq!(running.attempts, 1);
        assert_eq!(running.lease_owner.as_deref(), Some("w1"));
        assert_eq!(running.lease_expires_at, Some(t + Duration::seconds(30)));
        assert_eq!(running.started_at, Some(t));
        assert_eq!(running.updated_at, t);

        // A later attempt keeps the first start.
        let later = t + Duration::seconds(10);
        assert!(
            repo.finish(job.id, "w1", Outcome::Released, later)
                .await
                .unwrap()
        );
        let again = repo.claim(claim("w2", &["a"], 5), later).await.unwrap();
        assert_eq!(again[0].started_at, Some(t), "{}", db.backend);
        assert_eq!(again[0].lease_owner.as_deref(), Some("w2"));
    }
}

/// 8 claimers, each on its own task (and, on PostgreSQL, its own pooled
/// connection), race through 200 jobs 5 at a time: every job is claimed
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_get_disjoint_jobs_and_together_every_job_once() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        for n in 0..200 {
            repo.enqueue(new_job("bulk", t - Duration::milliseconds(n)))
                .await
                .unwrap();
        }
        let mut claimers = Vec::new();
        for worker in 0..8 {
            let repo = repo.clone();
            claimers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = repo
                        .claim(claim(&format!("w{worker}"), &["bulk"], 5), t)
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    assert!(claimed.len() <= 5);
                    mine.extend(claimed.into_iter().map(|j| j.id));
                }
            }));
        }
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.await.unwrap());
        }
        let distinct: HashSet<Uuid> = all.iter().copied().collect();
        assert_eq!(all.len(), 200, "{}: claimed in all", db.backend);
        assert_eq!(distinct.len(), 200, "{}: claimed twice", db.backend);
        let once = "status = 'running' AND attempts = 1";
        assert_eq!(count(&db.conn, "jobs", once).await, 200, "{}", db.backend);
    }
}
