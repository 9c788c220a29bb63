//! Periodic jobs: each declared with a cron expression, and enqueued once per
//! tick across every process that runs a scheduler, because the tick's job
//! carries a unique key (`kind@instant`) that the queue admits only once.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use strata_domain::jobs::{JobRepository, NewJob};
use strata_service::jobs::JobPolicies;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
#[error("invalid cron expression `{expression}` for `{kind}`: {source}")]
pub struct ScheduleError {
    kind: String,
    expression: String,
    #[source]
    source: cron::error::Error,
}

/// A kind fired on a schedule.
#[derive(Debug, Clone)]
pub struct Periodic {
    kind: String,
    schedule: cron::Schedule,
    payload: Value,
}

impl Periodic {
    /// `expression` has a seconds field first: `0 17 * * * *` is 17 minutes
    /// past every hour.
    ///
    /// # Errors
    /// [`ScheduleError`] for an expression cron cannot parse.
    pub fn new(kind: &str, expression: &str, payload: Value) -> Result<Self, ScheduleError> {
        let schedule = cron::Schedule::from_str(expression).map_err(|source| ScheduleError {
            kind: kind.to_owned(),
            expression: expression.to_owned(),
            source,
        })?;
        Ok(Self {
            kind: kind.to_owned(),
            schedule,
            payload,
        })
    }

    /// The latest tick in `(after, now]`, if any.
    pub(crate) fn due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&after)
            .take_while(|tick| *tick <= now)
            .last()
    }

    fn next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&after).next()
    }

    /// The job of one tick.
    pub(crate) fn job(&self, tick: DateTime<Utc>, max_attempts: i32) -> NewJob {
        NewJob::new(&self.kind, self.payload.clone(), max_attempts, tick).unique_key(format!(
            "{}@{}",
            self.kind,
            tick.to_rfc3339()
        ))
    }
}

/// Fires the periodic jobs until shut down. Ticks missed while no process
/// ran are not made up for: a periodic job must cope with the interval
/// between runs being longer than its schedule says.
pub struct Scheduler {
    repo: Arc<dyn JobRepository>,
    periodic: Vec<Periodic>,
    policies: JobPolicies,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("periodic", &self.periodic)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    pub fn new(
        repo: Arc<dyn JobRepository>,
        periodic: Vec<Periodic>,
        policies: JobPolicies,
    ) -> Self {
        Self {
            repo,
            periodic,
            policies,
        }
    }

    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let start = Utc::now();
            let mut last: Vec<DateTime<Utc>> = vec![start; self.periodic.len()];
            while !*shutdown.borrow() {
                let now = Utc::now();
                for (periodic, last) in self.periodic.iter().zip(last.iter_mut()) {
                    let Some(tick) = periodic.due(*last, now) else {
                        continue;
                    };
                    let job = periodic.job(tick, self.policies.of(&periodic.kind).max_attempts);
                    match self.repo.enqueue(job).await {
                        Ok(fresh) => {
                            tracing::debug!(kind = %periodic.kind, %tick, fresh, "periodic tick");
                            *last = tick;
                        }
                        // The tick stays due: the next pass tries again.
                        Err(err) => {
                            tracing::warn!(kind = %periodic.kind, error = %err, "enqueueing a periodic job failed")
                        }
                    }
                }
                let next = self
                    .periodic
                    .iter()
                    .zip(&last)
                    .filter_map(|(periodic, last)| periodic.next(*last))
                    .min();
                let wait = next
                    .and_then(|next| (next - Utc::now()).to_std().ok())
                    .unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(50), Duration::from_secs(60));
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;
    use strata_domain::jobs::MockJobRepository;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, h, m, s).unwrap()
    }

    #[test]
    fn the_latest_tick_in_the_window_is_due() {
        let hourly = Periodic::new("purge_jobs", "0 17 * * * *", Value::Null).unwrap();
        assert_eq!(hourly.due(at(10, 0, 0), at(10, 16, 59)), None);
        assert_eq!(hourly.due(at(10, 0, 0), at(10, 17, 0)), Some(at(10, 17, 0)));
        // Two ticks missed: only the latest fires.
        assert_eq!(hourly.due(at(9, 0, 0), at(11, 30, 0)), Some(at(11, 17, 0)));
    }

    #[test]
    fn a_tick_has_one_key_in_every_process() {
        let hourly = Periodic::new("purge_jobs", "0 17 * * * *", Value::Null).unwrap();
        let (a, b) = (hourly.job(at(10, 17, 0), 3), hourly.job(at(10, 17, 0), 3));
        assert_ne!(a.id, b.id);
        assert_eq!(a.unique_key, b.unique_key);
        assert_eq!(
            a.unique_key.as_deref(),
            Some("purge_jobs@2026-12-05T10:17:00+00:00")
        );
        assert_eq!(a.run_at, at(10, 17, 0));
    }

    #[test]
    fn bad_expressions_are_refused_with_the_kind_named() {
        let err = Periodic::new("purge_jobs", "every hour", Value::Null).unwrap_err();
        assert!(err.to_string().contains("purge_jobs"), "{err}");
    }

    #[tokio::test]
    async fn each_due_tick_is_enqueued_with_its_key() {
        let mut repo = MockJobRepository::new();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        repo.expect_enqueue().returning(move |job| {
            let _ = seen_tx.send(job);
            Ok(true)
        });
        let every_second = Periodic::new("tick", "* * * * * *", Value::Null).unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = Scheduler::new(Arc::new(repo), vec![every_second], JobPolicies::default())
            .spawn(stopped);
        let job = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.kind, "tick");
        assert!(job.unique_key.unwrap().starts_with("tick@"));
        stop.send(true).unwrap();
        task.await.unwrap();
    }
}
