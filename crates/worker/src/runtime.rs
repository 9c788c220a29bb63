//! The claim loop: keeps up to `concurrency` attempts running, claims more
//! as slots free up or as wake-ups arrive, honours per-kind limits, and on
//! shutdown stops claiming, lets running attempts finish within the grace
//! period, then hands the rest back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use strata_domain::jobs::{Claim, Job, JobRepository, JobStatus};
use strata_service::jobs::{Handlers, JobPolicies};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::WorkerConfig;
use crate::run::{self, Shared};

/// A configured runtime, not yet started.
pub struct Runtime {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// A started runtime.
#[derive(Debug)]
pub struct RuntimeHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RuntimeHandle {
    /// Stops claiming, waits up to the grace period for running attempts,
    /// hands back whatever is still running, and returns when all is done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the job runtime ended abnormally");
        }
    }
}

impl Runtime {
    /// `handlers` names the kinds this process runs; `policies` holds their
    /// (possibly configured) retry policies and concurrency limits.
    pub fn new(
        repo: Arc<dyn JobRepository>,
        handlers: Handlers,
        policies: JobPolicies,
        config: WorkerConfig,
    ) -> Self {
        let handlers = handlers
            .into_iter()
            .map(|handler| (handler.kind(), handler))
            .collect();
        Self {
            shared: Arc::new(Shared {
                repo,
                handlers,
                policies,
                config,
            }),
        }
    }

    pub fn start(self) -> RuntimeHandle {
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(claim_loop(self.shared, stopped));
        RuntimeHandle { shutdown, task }
    }

    /// Sets the `strata_jobs` gauge (jobs by kind and status) from the
    /// database: what the whole cluster holds, not only this process.
    ///
    /// # Errors
    /// The storage failure, for the caller to log.
    pub async fn publish_counts(repo: &dyn JobRepository) -> Result<(), strata_domain::RepoError> {
        let counts = repo.counts().await?;
        let mut seen: HashMap<(String, JobStatus), u64> = HashMap::new();
        for count in counts {
            seen.insert((count.kind, count.status), count.count);
        }
        let kinds: std::collections::BTreeSet<String> =
            seen.keys().map(|(kind, _)| kind.clone()).collect();
        // Every status of every known kind is set, zeros included, so a
        // status that emptied does not keep its last value.
        for kind in kinds {
            for status in JobStatus::ALL {
                let value = seen.get(&(kind.clone(), status)).copied().unwrap_or(0);
                ::metrics::gauge!("strata_jobs", "kind" => kind.clone(), "status" => status.as_str())
                    .set(value as f64);
            }
        }
        Ok(())
    }
}

/// Attempts in flight, by kind.
struct Slots {
    running: JoinSet<&'static str>,
    by_kind: HashMap<&'static str, usize>,
}

impl Slots {
    fn free(&self, total: usize) -> usize {
        total.saturating_sub(self.running.len())
    }

    fn finished(&mut self, kind: &'static str) {
        if let Some(count) = self.by_kind.get_mut(kind) {
            *count = count.saturating_sub(1);
        }
    }
}

/// One round of claims: each limited kind alone, capped by its own free
/// slots, then every unlimited kind together with the slots left. Slots are
/// counted by what each claim returned, so a limited kind with nothing due
/// holds none back from the others.
async fn claim_round(shared: &Shared, slots: &Slots) -> Result<Vec<Job>, strata_domain::RepoError> {
    let mut free = slots.free(shared.config.concurrency);
    let mut jobs = Vec::new();
    let mut unlimited = Vec::new();
    for kind in shared.handlers.keys() {
        match shared.policies.of(kind).concurrency {
            Some(limit) => {
                let running = slots.by_kind.get(kind).copied().unwrap_or(0);
                let take = limit.saturating_sub(running).min(free);
                if take > 0 {
                    let claimed = shared
                        .repo
                        .claim(claim(shared, vec![(*kind).to_owned()], take), Utc::now())
                        .await?;
                    free = free.saturating_sub(claimed.len());
                    jobs.extend(claimed);
                }
            }
            None => unlimited.push((*kind).to_owned()),
        }
    }
    if free > 0 && !unlimited.is_empty() {
        unlimited.sort();
        jobs.extend(
            shared
                .repo
                .claim(claim(shared, unlimited, free), Utc::now())
                .await?,
        );
    }
    Ok(jobs)
}

fn claim(shared: &Shared, kinds: Vec<String>, limit: usize) -> Claim {
    Claim {
        worker: shared.config.id.clone(),
        kinds,
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        lease: shared.config.lease,
    }
}

async fn claim_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let (abandon, abandoned) = watch::channel(false);
    let reaper = tokio::spawn(reap(shared.clone()));
    let mut slots = Slots {
        running: JoinSet::new(),
        by_kind: HashMap::new(),
    };
    tracing::info!(worker = %shared.config.id, concurrency = shared.config.concurrency, kinds = ?shared.handlers.keys().collect::<Vec<_>>(), "job runtime started");
    while !*shutdown.borrow() {
        // Every attempt that ended since the last claim frees its slot now,
        // so one claim takes them all: claiming one job per wake-up would cap
        // a process at one job per database round trip, whatever its
        // concurrency.
        while let Some(done) = slots.running.try_join_next() {
            if let Ok(kind) = done {
                slots.finished(kind);
            }
        }
        let claimed = if slots.free(shared.config.concurrency) > 0 {
            match claim_round(&shared, &slots).await {
                Ok(jobs) => jobs,
                Err(err) => {
                    tracing::warn!(error = %err, "claiming jobs failed; trying again shortly");
                    tokio::select! {
                        _ = shutdown.changed() => {}
                        () = tokio::time::sleep(shared.config.poll_interval) => {}
                    }
                    continue;
                }
            }
        } else {
            Vec::new()
        };
        let any = !claimed.is_empty();
        for job in claimed {
            let Some((kind, _)) = shared.handlers.get_key_value(job.kind.as_str()) else {
                continue;
            };
            let kind: &'static str = kind;
            *slots.by_kind.entry(kind).or_default() += 1;
            let (shared, abandoned) = (shared.clone(), abandoned.clone());
            slots.running.spawn(async move {
                run::run(shared, job, abandoned).await;
                kind
            });
        }
        if any && slots.free(shared.config.concurrency) > 0 {
            // More may be due right away: claim again before sleeping.
            continue;
        }
        let free = slots.free(shared.config.concurrency) > 0;
        tokio::select! {
            _ = shutdown.changed() => {}
            Some(done) = slots.running.join_next(), if !slots.running.is_empty() => {
                if let Ok(kind) = done { slots.finished(kind) }
            }
            () = shared.repo.wait_for_jobs(shared.config.poll_interval), if free => {}
        }
    }
    reaper.abort();
    tracing::info!(
        running = slots.running.len(),
        "job runtime stopping; no more claims"
    );
    let drained = tokio::time::timeout(shared.config.shutdown_grace, drain(&mut slots)).await;
    if drained.is_err() {
        let _ = abandon.send(true);
        drain(&mut slots).await;
    }
    tracing::info!("job runtime stopped");
}

async fn drain(slots: &mut Slots) {
    while let Some(done) = slots.running.join_next().await {
        if let Ok(kind) = done {
            slots.finished(kind);
        }
    }
}

/// Takes back the jobs of dead workers, every half lease.
async fn reap(shared: Arc<Shared>) {
    let every = (shared.config.lease / 2).max(Duration::from_millis(500));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match shared.repo.reap_expired(Utc::now()).await {
            Ok(0) => {}
            Ok(taken) => tracing::warn!(taken, "took back jobs whose lease expired"),
            Err(err) => tracing::warn!(error = %err, "reaping expired leases failed"),
        }
    }
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
pub(crate) mod tests;
