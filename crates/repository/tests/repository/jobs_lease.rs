//! A claimed job's life: lease renewal, outcomes, reaping, cancel, retry and
//! purge.

use chrono::Duration;
use serde_json::json;
use strata_domain::RepoError;
use strata_domain::jobs::{CancelResult, Heartbeat, JobRepository, JobStatus, Outcome, Progress};
use strata_repository::SeaJobRepository;
use uuid::Uuid;

use crate::common::{now, test_databases};
use crate::jobs::{claim, enqueued, new_job, running};

#[tokio::test]
async fn a_heartbeat_renews_the_lease_records_progress_and_reports_a_cancel_request() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let job = running(&repo, t).await;
        let until = t + Duration::seconds(90);
        let progress = Progress {
            percent: 50,
            message: Some("half way".into()),
        };
        assert_eq!(
            repo.heartbeat(job.id, "w1", until, Some(progress))
                .await
                .unwrap(),
            Heartbeat::Renewed {
                cancel_requested: false
            },
            "{}",
            db.backend
        );
        let renewed = repo.find(job.id).await.unwrap();
        assert_eq!(renewed.lease_expires_at, Some(until));
        assert_eq!(renewed.progress, 50);
        assert_eq!(renewed.progress_message.as_deref(), Some("half way"));

        // Without progress the last one stays.
        assert!(matches!(
            repo.cancel(job.id, t).await.unwrap(),
            CancelResult::Requested(ref j) if j.cancel_requested && j.status == JobStatus::Running
        ));
        assert_eq!(
            repo.heartbeat(job.id, "w1", until, None).await.unwrap(),
            Heartbeat::Renewed {
                cancel_requested: true
            },
            "{}",
            db.backend
        );
        assert_eq!(repo.find(job.id).await.unwrap().progress, 50);
    }
}

#[tokio::test]
async fn a_worker_without_the_lease_changes_nothing() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let job = running(&repo, t).await;
        let later = t + Duration::seconds(60);
        assert_eq!(
            repo.heartbeat(job.id, "w2", later, None).await.unwrap(),
            Heartbeat::Lost,
            "{}",
            db.backend
        );
        let stolen = Outcome::Succeeded { result: json!(1) };
        assert!(!repo.finish(job.id, "w2", stolen, t).await.unwrap());
        assert_eq!(repo.find(job.id).await.unwrap(), job, "{}", db.backend);

        // Once finished, not even its worker can touch it.
        assert!(
            repo.finish(job.id, "w1", Outcome::Cancelled, t)
                .await
                .unwrap()
        );
        assert_eq!(
            repo.heartbeat(job.id, "w1", later, None).await.unwrap(),
            Heartbeat::Lost
        );
        assert!(
            !repo
                .finish(job.id, "w1", Outcome::Released, t)
                .await
                .unwrap()
        );
        assert_eq!(
            repo.heartbeat(Uuid::now_v7(), "w1", later, None)
                .await
                .unwrap(),
            Heartbeat::Lost
        );
    }
}

#[tokio::test]
async fn expired_leases_are_reaped_back_to_the_queue_and_the_last_attempt_dies() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let mut job = new_job("a", t);
        job.max_attempts = 2;
        repo.enqueue(job.clone()).await.unwrap();
        repo.claim(claim("w1", &["a"], 1), t).await.unwrap();

        // Not expired yet (the lease is 30 s).
        assert_eq!(
            repo.reap_expired(t + Duration::seconds(29)).await.unwrap(),
            0
        );
        let t1 = t + Duration::seconds(31);
        assert_eq!(repo.reap_expired(t1).await.unwrap(), 1, "{}", db.backend);
        let reaped = repo.find(job.id).await.unwrap();
        assert_eq!(reaped.status, JobStatus::Queued, "{}", db.backend);
        assert_eq!(reaped.run_at, t1);
        assert_eq!(reaped.lease_owner, None);
        assert_eq!(reaped.lease_expires_at, None);
        assert_eq!(
            reaped.last_error.as_deref(),
            Some("lease expired (worker lost)")
        );
        assert_eq!(reaped.finished_at, None);
        // The worker that lost it can no longer finish it.
        assert!(
            !repo
                .finish(job.id, "w1", Outcome::Released, t1)
                .await
                .unwrap()
        );

        // Second and last attempt, lost too: dead.
        let again = repo.claim(claim("w2", &["a"], 1), t1).await.unwrap();
        assert_eq!(again[0].attempts, 2);
        let t2 = t1 + Duration::seconds(31);
        assert_eq!(repo.reap_expired(t2).await.unwrap(), 1);
        let dead = repo.find(job.id).await.unwrap();
        assert_eq!(dead.status, JobStatus::Dead, "{}", db.backend);
        assert_eq!(dead.finished_at, Some(t2));
        assert_eq!(dead.lease_owner, None);
        assert_eq!(repo.reap_expired(t2).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn outcomes_record_what_happened_and_clear_the_lease() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let finish = |id, outcome| repo.finish(id, "w1", outcome, t);

        let job = running(&repo, t).await;
        let result = json!({"file": "exports/x.csv", "rows": 3});
        assert!(
            finish(
                job.id,
                Outcome::Succeeded {
                    result: result.clone()
                }
            )
            .await
            .unwrap()
        );
        let done = repo.find(job.id).await.unwrap();
        assert_eq!(done.status, JobStatus::Succeeded, "{}", db.backend);
        assert_eq!(done.result, Some(result));
        assert_eq!(done.progress, 100);
        assert_eq!(done.finished_at, Some(t));
        assert_eq!((done.lease_owner, done.lease_expires_at), (None, None));

        for (outcome, status, error) in [
            (
                Outcome::Dead {
                    error: "gave up".into(),
                },
                JobStatus::Dead,
                Some("gave up"),
            ),
            (
                Outcome::Failed {
                    error: "bad input".into(),
                },
                JobStatus::Failed,
                Some("bad input"),
            ),
            (Outcome::Cancelled, JobStatus::Cancelled, None),
        ] {
            let job = running(&repo, t).await;
            assert!(finish(job.id, outcome).await.unwrap());
            let ended = repo.find(job.id).await.unwrap();
            assert_eq!(ended.status, status, "{}", db.backend);
            assert_eq!(ended.last_error.as_deref(), error);
            assert_eq!(ended.finished_at, Some(t));
            assert_eq!(ended.lease_owner, None);
        }
    }
}

#[tokio::test]
async fn a_retry_waits_for_its_time_and_a_release_gives_the_attempt_back() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let job = running(&repo, t).await;
        let next = t + Duration::seconds(60);
        let retry = Outcome::Retry {
            error: "timeout".into(),
            run_at: next,
        };
        assert!(repo.finish(job.id, "w1", retry, t).await.unwrap());
        let queued = repo.find(job.id).await.unwrap();
        assert_eq!(queued.status, JobStatus::Queued, "{}", db.backend);
        assert_eq!(queued.run_at, next);
        assert_eq!(queued.last_error.as_deref(), Some("timeout"));
        assert_eq!((queued.lease_owner, queued.finished_at), (None, None));
        assert!(
            repo.claim(claim("w1", &["a"], 5), t)
                .await
                .unwrap()
                .is_empty()
        );
        let second = repo.claim(claim("w1", &["a"], 5), next).await.unwrap();
        assert_eq!(second[0].attempts, 2, "{}", db.backend);

        assert!(
            repo.finish(job.id, "w1", Outcome::Released, next)
                .await
                .unwrap()
        );
        let released = repo.find(job.id).await.unwrap();
        assert_eq!(released.status, JobStatus::Queued);
        assert_eq!(released.attempts, 1, "{}", db.backend);
        assert_eq!(released.run_at, next);
        assert_eq!(
            repo.claim(claim("w2", &["a"], 5), next)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn cancel_stops_a_queued_job_asks_a_running_one_and_leaves_a_finished_one() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let queued = enqueued(&repo, "q", t).await;
        let CancelResult::Cancelled(cancelled) = repo.cancel(queued.id, t).await.unwrap() else {
            panic!("{}: a queued job is cancelled at once", db.backend);
        };
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert_eq!(cancelled.finished_at, Some(t));
        assert_eq!(repo.find(queued.id).await.unwrap(), cancelled);
        assert!(
            repo.claim(claim("w1", &["q"], 5), t)
                .await
                .unwrap()
                .is_empty()
        );

        let job = running(&repo, t).await;
        let CancelResult::Requested(asked) = repo.cancel(job.id, t).await.unwrap() else {
            panic!("{}: a running job is asked to stop", db.backend);
        };
        assert_eq!(asked.status, JobStatus::Running);
        assert!(asked.cancel_requested);
        assert_eq!(asked.lease_owner.as_deref(), Some("w1"));

        assert!(
            repo.finish(job.id, "w1", Outcome::Cancelled, t)
                .await
                .unwrap()
        );
        let finished = repo.find(job.id).await.unwrap();
        assert_eq!(
            repo.cancel(job.id, t).await.unwrap(),
            CancelResult::AlreadyFinished(finished),
            "{}",
            db.backend
        );
        assert!(matches!(
            repo.cancel(Uuid::now_v7(), t).await,
            Err(RepoError::NotFound)
        ));
    }
}

#[tokio::test]
async fn only_failed_and_dead_jobs_can_be_retried_and_they_start_afresh() {
    for db in test_databases().await {
        let repo = SeaJobRepository::new(db.conn.clone());
        let t = now();
        let later = t + Duration::seconds(5);
        for outcome in [
            Outcome::Dead { error: "x".into() },
            Outcome::Failed { error: "y".into() },
        ] {
            let job = running(&repo, t).await;
            repo.heartbeat(
                job.id,
                "w1",
                later,
                Some(Progress {
                    percent: 40,
                    message: None,
                }),
            )
            .await
            .unwrap();
            repo.cancel(job.id, t).await.unwrap();
            repo.finish(job.id, "w1", outcome, t).await.unwrap();
            let retried = repo.retry(job.id, later).await.unwrap();
            assert_eq!(retried.status, JobStatus::Queued, "{}", db.backend);
            assert_eq!(retried.attempts, 0);
            assert_eq!(retried.run_at, later);
            assert_eq!(retried.finished_at, None);
            assert!(!retried.cancel_requested);
            assert_eq!(retried.progress, 0);
            assert_eq!(retried.updated_at, later);
            assert_eq!(repo.find(job.id).await.unwrap(), retried);
        }

        let queued = enqueued(&repo, "q", t).await;
        let busy = running(&repo, t).await;
        let succeeded = running(&repo, t).await;
        let result = Outcome::Succeeded {
            result: json!(null),
        };
        repo.finish(succeeded.id, "w1", result, t).await.unwrap();
        for job in [&queued, &busy, &succeeded] {
            let before = repo.find(job.id).await.unwrap();
            assert!(
                matches!(
                    repo.retry(job.id, later).await,
                    Err(RepoError::VersionMismatch)
                ),
                "{}: {:?}",
                db.backend,
                before.status
            );
            assert_eq!(repo.find(job.id).await.unwrap(), before);
        }
        assert!(matches!(
            repo.retry(Uuid::now_v7(), later).await,
            Err(RepoError::NotFound)
        ));
    }
}
