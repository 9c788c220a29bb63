//! The runtime's Prometheus series. The gauges of jobs by status and kind
//! are set by whoever serves `/metrics` (see `Runtime::publish_counts`).

use std::time::Duration;

pub(crate) fn queue_wait(kind: &str, wait: Duration) {
    metrics::histogram!("strata_job_queue_wait_seconds", "kind" => kind.to_owned())
        .record(wait.as_secs_f64());
}

pub(crate) fn finished(kind: &str, outcome: &'static str, took: Duration) {
    metrics::histogram!(
        "strata_job_run_seconds",
        "kind" => kind.to_owned(),
        "outcome" => outcome
    )
    .record(took.as_secs_f64());
    match outcome {
        "retry" => {
            metrics::counter!("strata_job_retries_total", "kind" => kind.to_owned()).increment(1)
        }
        "dead" => {
            metrics::counter!("strata_job_dead_total", "kind" => kind.to_owned()).increment(1)
        }
        _ => {}
    }
}
