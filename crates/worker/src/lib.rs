//! Strata's job runtime: it claims due jobs from the durable queue, runs
//! each under a lease it keeps renewing, records one outcome per attempt
//! (with persisted, jittered backoff for the next one), takes back jobs
//! whose worker died, fires the periodic jobs, and shuts down gracefully.
//!
//! It sees only the domain's [`JobRepository`] port and the service's
//! [`JobHandler`]s; `strata serve` runs it in-process and `strata worker`
//! runs it alone, against the same database.
//!
//! [`JobRepository`]: strata_domain::jobs::JobRepository
//! [`JobHandler`]: strata_service::jobs::JobHandler

mod metrics;
mod run;
mod runtime;
mod scheduler;

use std::time::Duration;

pub use runtime::{Runtime, RuntimeHandle};
pub use scheduler::{Periodic, ScheduleError, Scheduler};

/// How one process runs jobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this process's leases (`host-pid-random`).
    pub id: String,
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// The longest an idle worker waits before looking for due jobs when no
    /// wake-up arrived (retries coming due, other processes without a signal).
    pub poll_interval: Duration,
    /// How long a claimed job is held without a renewal; a worker renews at
    /// a third of it, so two renewals can be missed before another worker
    /// takes the job over.
    pub lease: Duration,
    /// On shutdown, how long running jobs get to finish before they are
    /// handed back to the queue.
    pub shutdown_grace: Duration,
}

impl WorkerConfig {
    /// A worker id unique to this process: the host name (when the
    /// environment names one), the pid, and random digits for restarts that
    /// reuse a pid.
    pub fn process_id() -> String {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "strata".into());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}-{}", std::process::id(), &suffix[..8])
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: Self::process_id(),
            concurrency: 4,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(25),
        }
    }
}
