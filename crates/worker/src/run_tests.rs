#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use strata_domain::jobs::{Job, NewJob, Outcome};
use strata_service::jobs::{JobError, JobPolicies, RetryPolicy};

use super::decide;
use crate::runtime::tests::job_from;

fn policies() -> JobPolicies {
    let mut policies = JobPolicies::default();
    policies.set(
        "flaky",
        RetryPolicy {
            max_attempts: 3,
            backoff_base: Duration::from_secs(60),
            backoff_factor: 2.0,
            backoff_cap: Duration::from_secs(600),
            concurrency: None,
        },
    );
    policies
}

fn attempt(n: i32) -> Job {
    let mut job = job_from(NewJob::new("flaky", json!({}), 3, Utc::now()));
    job.attempts = n;
    job
}

#[test]
fn a_failed_attempt_is_retried_after_its_backoff() {
    let before = Utc::now();
    for (n, (low, high)) in [(1, (30, 60)), (2, (60, 120))] {
        let (outcome, label) = decide(
            &policies(),
            &attempt(n),
            Err(JobError::Retry("down".into())),
        );
        assert_eq!(label, "retry");
        let Some(Outcome::Retry { error, run_at }) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(error, "down");
        let wait = (run_at - before).num_seconds();
        assert!((low..=high + 1).contains(&wait), "attempt {n}: {wait}s");
    }
}

#[test]
fn the_last_attempt_makes_the_job_dead() {
    let (outcome, label) = decide(
        &policies(),
        &attempt(3),
        Err(JobError::Retry("down".into())),
    );
    assert_eq!(label, "dead");
    assert_eq!(
        outcome,
        Some(Outcome::Dead {
            error: "down".into()
        })
    );
}

#[test]
fn permanent_errors_fail_at_once_and_cancels_and_lost_leases_are_kept_apart() {
    let (outcome, _) = decide(
        &policies(),
        &attempt(1),
        Err(JobError::Permanent("bad".into())),
    );
    assert_eq!(
        outcome,
        Some(Outcome::Failed {
            error: "bad".into()
        })
    );
    let (outcome, _) = decide(&policies(), &attempt(1), Err(JobError::Cancelled));
    assert_eq!(outcome, Some(Outcome::Cancelled));
    let (outcome, label) = decide(&policies(), &attempt(1), Err(JobError::LeaseLost));
    assert_eq!((outcome, label), (None, "lost"));
    let (outcome, _) = decide(&policies(), &attempt(1), Ok(json!({"n": 1})));
    assert_eq!(
        outcome,
        Some(Outcome::Succeeded {
            result: json!({"n": 1})
        })
    );
}

#[test]
fn long_errors_are_bounded() {
    let (outcome, _) = decide(
        &policies(),
        &attempt(1),
        Err(JobError::Permanent("x".repeat(5000))),
    );
    let Some(Outcome::Failed { error }) = outcome else {
        panic!()
    };
    assert_eq!(error.len(), strata_domain::jobs::MESSAGE_MAX);
}
