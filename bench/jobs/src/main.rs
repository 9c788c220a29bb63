//! The job queue's benchmark (not a test): how many no-op jobs per second
//! the runtime drains, and how long a job waits from its enqueue to its
//! start when the queue is idle.
//!
//! `strata-jobs-bench run --database-url URL [--jobs N] [--processes P]
//! [--concurrency C] [--idle M] [--idle-gap-ms G]`
//!
//! - `--processes 0` runs the workers inside this process, as `strata serve`
//!   does (the only way on SQLite: its wake-ups do not cross processes);
//!   `P > 0` starts P worker processes (this binary, `worker` mode), as
//!   `strata worker` scales out on PostgreSQL.
//! - Times come from the jobs table (`created_at` written by the enqueuer,
//!   `started_at` and `finished_at` by the workers, all on this machine's
//!   clock), so nothing outside the queue is measured.
//!
//! The database must be fresh: `bench/jobs.sh` creates one per run.

// A command-line tool: its output is its report.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use strata_domain::jobs::{Job, JobFilter, JobRepository, JobStatus, NewJob};
use strata_domain::page::PageRequest;
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::SeaJobRepository;
use strata_service::jobs::{JobContext, JobError, JobHandler, JobPolicies};
use strata_worker::{Runtime, RuntimeHandle, WorkerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Drained as fast as the workers can take them.
const LOAD: &str = "bench_load";
/// Enqueued one at a time into an idle queue.
const IDLE: &str = "bench_idle";
/// Enqueuers writing at once while the load is queued.
const ENQUEUERS: usize = 8;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Does nothing: what is measured is the queue around it.
struct Noop(&'static str);

#[async_trait]
impl JobHandler for Noop {
    fn kind(&self) -> &'static str {
        self.0
    }

    async fn run(&self, _job: &Job, _ctx: &dyn JobContext) -> Result<Value, JobError> {
        Ok(Value::Null)
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let opts = options(args)?;
    let url = opts
        .get("database-url")
        .cloned()
        .ok_or("--database-url is required")?;
    let concurrency: usize = number(&opts, "concurrency", 2)?;
    match mode.as_str() {
        "worker" => worker(&url, concurrency).await,
        "run" => run(&url, concurrency, &opts).await,
        _ => Err("usage: strata-jobs-bench run|worker --database-url URL [...]".into()),
    }
}

fn options(args: impl Iterator<Item = String>) -> Result<HashMap<String, String>, Error> {
    let args: Vec<String> = args.collect();
    let mut opts = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [key, value] if key.starts_with("--") => {
                opts.insert(key.trim_start_matches("--").to_owned(), value.clone());
            }
            _ => return Err(format!("expected --option value pairs, got {pair:?}").into()),
        }
    }
    Ok(opts)
}

fn number<T: std::str::FromStr>(
    opts: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, Error> {
    match opts.get(key) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| format!("--{key} must be a number").into()),
    }
}

async fn repository(url: &str, connections: u32) -> Result<Arc<SeaJobRepository>, Error> {
    let db = strata_repository::connect(url, connections).await?;
    Migrator::up(&db, None).await?;
    Ok(Arc::new(SeaJobRepository::new(db)))
}

fn runtime(repo: Arc<SeaJobRepository>, concurrency: usize) -> RuntimeHandle {
    let config = WorkerConfig {
        concurrency,
        poll_interval: Duration::from_secs(1),
        lease: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(5),
        ..WorkerConfig::default()
    };
    let handlers: Vec<Arc<dyn JobHandler>> = vec![Arc::new(Noop(LOAD)), Arc::new(Noop(IDLE))];
    Runtime::new(repo, handlers, JobPolicies::default(), config).start()
}

/// A worker process: runs until its standard input closes.
async fn worker(url: &str, concurrency: usize) -> Result<(), Error> {
    let repo = repository(url, concurrency as u32 + 2).await?;
    let handle = runtime(repo, concurrency);
    println!("ready");
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    handle.shutdown().await;
    Ok(())
}

/// The workers of one run: in this process, or child processes.
enum Workers {
    Local(Vec<RuntimeHandle>),
    Processes(Vec<Child>),
}

impl Workers {
    async fn start(
        url: &str,
        processes: usize,
        concurrency: usize,
        repo: &Arc<SeaJobRepository>,
    ) -> Result<Self, Error> {
        if processes == 0 {
            return Ok(Self::Local(vec![runtime(repo.clone(), concurrency)]));
        }
        let exe = std::env::current_exe()?;
        let mut children = Vec::new();
        for _ in 0..processes {
            let mut child = Command::new(&exe)
                .args(["worker", "--database-url", url])
                .args(["--concurrency", &concurrency.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let stdout = child.stdout.take().ok_or("no worker stdout")?;
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).await?;
            if line.trim() != "ready" {
                return Err(format!("a worker process did not start: {line:?}").into());
            }
            children.push(child);
        }
        Ok(Self::Processes(children))
    }

    async fn stop(self) -> Result<(), Error> {
        match self {
            Self::Local(handles) => {
                for handle in handles {
                    handle.shutdown().await;
                }
            }
            Self::Processes(children) => {
                for mut child in children {
                    drop(child.stdin.take());
                    child.wait().await?;
                }
            }
        }
        Ok(())
    }
}

async fn run(url: &str, concurrency: usize, opts: &HashMap<String, String>) -> Result<(), Error> {
    let jobs: usize = number(opts, "jobs", 20_000)?;
    let processes: usize = number(opts, "processes", 0)?;
    let idle: usize = number(opts, "idle", 300)?;
    let gap = Duration::from_millis(number(opts, "idle-gap-ms", 20)?);

    let repo = repository(url, ENQUEUERS as u32 + 2).await?;

    // The load is queued before any worker runs, so the drain measures the
    // workers alone.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for part in 0..ENQUEUERS {
        let repo = repo.clone();
        let count = jobs / ENQUEUERS + usize::from(part < jobs % ENQUEUERS);
        tasks.spawn(async move {
            for _ in 0..count {
                repo.enqueue(NewJob::new(LOAD, json!({}), 1, Utc::now()))
                    .await?;
            }
            Ok::<_, Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let enqueue_rate = jobs as f64 / started.elapsed().as_secs_f64();

    let workers = Workers::start(url, processes, concurrency, &repo).await?;
    wait_done(repo.as_ref(), LOAD, jobs).await?;
    let load = times(repo.as_ref(), LOAD).await?;
    let first_start = load
        .iter()
        .filter_map(|t| t.1)
        .min()
        .ok_or("no job started")?;
    let last_finish = load
        .iter()
        .filter_map(|t| t.2)
        .max()
        .ok_or("no job finished")?;
    let drain = (last_finish - first_start).to_std()?.as_secs_f64();

    // One job at a time into the idle queue: the wake-up path, not the poll.
    for _ in 0..idle {
        repo.enqueue(NewJob::new(IDLE, json!({}), 1, Utc::now()))
            .await?;
        tokio::time::sleep(gap).await;
    }
    wait_done(repo.as_ref(), IDLE, idle).await?;
    let mut waits: Vec<f64> = times(repo.as_ref(), IDLE)
        .await?
        .iter()
        .filter_map(|(created, started, _)| {
            (started.as_ref()?.signed_duration_since(*created))
                .to_std()
                .ok()
        })
        .map(|wait| wait.as_secs_f64() * 1000.0)
        .collect();
    waits.sort_by(f64::total_cmp);
    workers.stop().await?;

    let backend = url.split(':').next().unwrap_or("?");
    let shape = match processes {
        0 => format!("in-process, {concurrency} workers"),
        n => format!("{n} processes × {concurrency} workers"),
    };
    println!(
        "| {backend} | {shape} | {jobs} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} |",
        enqueue_rate,
        jobs as f64 / drain,
        percentile(&waits, 0.50),
        percentile(&waits, 0.99),
        waits.last().copied().unwrap_or(f64::NAN),
    );
    Ok(())
}

/// Waits until `expected` jobs of `kind` succeeded; any other terminal
/// status is a broken run.
async fn wait_done(repo: &dyn JobRepository, kind: &str, expected: usize) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut succeeded = 0;
        for count in repo.counts().await?.into_iter().filter(|c| c.kind == kind) {
            match count.status {
                JobStatus::Succeeded => succeeded = count.count,
                JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled if count.count > 0 => {
                    return Err(
                        format!("{} {kind} jobs ended {:?}", count.count, count.status).into(),
                    );
                }
                _ => {}
            }
        }
        if succeeded as usize >= expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{kind}: {succeeded} of {expected} done after 10 minutes").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Times = (DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

async fn times(repo: &dyn JobRepository, kind: &str) -> Result<Vec<Times>, Error> {
    let filter = JobFilter {
        kind: Some(kind.to_owned()),
        ..JobFilter::default()
    };
    let mut all = Vec::new();
    loop {
        let page = PageRequest::new(Some(100), Some(all.len() as i64))
            .map_err(|(field, _)| format!("page {field}"))?;
        let page = repo.list(filter.clone(), page).await?;
        let done = page.items.len() < 100;
        all.extend(
            page.items
                .into_iter()
                .map(|job| (job.created_at, job.started_at, job.finished_at)),
        );
        if done {
            return Ok(all);
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
