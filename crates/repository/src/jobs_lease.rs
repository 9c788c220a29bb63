//! A job's state changes: claim, lease renewal, outcome, reaping, cancel and
//! retry.
//!
//! Each is one guarded statement, or one write transaction whose row is
//! locked before it is judged, so any number of workers and instances can
//! run them at once. The callers in `jobs.rs` hold the write gate.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, UpdateMany,
};
use strata_domain::RepoError;
use strata_domain::jobs::{
    CancelResult, Claim, Heartbeat, Job, JobStatus, Outcome, Progress, bounded_message,
};
use strata_domain::notifications::NewNotification;
use strata_domain::realtime::UserEvent;
use uuid::Uuid;

use crate::entities::jobs::{self, Column};
use crate::error::DbResultExt;
use crate::jobs::{to_jobs, update_returning};
use crate::notifications::notify_in;
use crate::query::micros;
use crate::realtime::job_events_in;
use crate::tx::Writer;

/// What a job whose worker vanished records as its error.
const LEASE_EXPIRED: &str = "lease expired (worker lost)";

fn set_status(update: UpdateMany<jobs::Entity>, status: JobStatus) -> UpdateMany<jobs::Entity> {
    update.col_expr(Column::Status, Expr::value(status.as_str()))
}

/// Clears the lease and stamps `updated_at`: every move out of `Running`.
fn release_lease(update: UpdateMany<jobs::Entity>, now: DateTime<Utc>) -> UpdateMany<jobs::Entity> {
    update
        .col_expr(Column::LeaseOwner, Expr::value(None::<String>))
        .col_expr(Column::LeaseExpiresAt, Expr::value(None::<DateTime<Utc>>))
        .col_expr(Column::UpdatedAt, Expr::value(now))
}

/// Jobs in `status`.
fn in_status(status: JobStatus) -> UpdateMany<jobs::Entity> {
    jobs::Entity::update_many().filter(Column::Status.eq(status.as_str()))
}

/// The job `id` while `worker` holds its lease: the guard of every change a
/// worker makes, so a worker whose lease was taken over changes nothing.
fn held(id: Uuid, worker: &str) -> UpdateMany<jobs::Entity> {
    in_status(JobStatus::Running)
        .filter(Column::Id.eq(id))
        .filter(Column::LeaseOwner.eq(worker))
}

/// `UPDATE jobs SET status = 'running', … WHERE id IN (SELECT id FROM jobs
/// WHERE status = 'queued' AND run_at <= $now AND kind IN (…) ORDER BY
/// run_at, id LIMIT $n [FOR UPDATE SKIP LOCKED]) RETURNING *`.
///
/// One statement on both backends. On PostgreSQL the subquery locks the rows
/// it picks and skips those another claimer has locked, so concurrent
/// claimers take disjoint jobs without waiting for each other. SQLite has no
/// row locks (sea-query would silently drop the clause, so it is not even
/// asked for): there one statement is atomic because the database has a
/// single writer, which is why this must never become a SELECT then an
/// UPDATE.
pub(crate) async fn claim(
    db: Writer<'_>,
    claim: &Claim,
    now: DateTime<Utc>,
) -> Result<Vec<Job>, RepoError> {
    let now = micros(now);
    let lease = chrono::Duration::from_std(claim.lease)
        .map_err(|err| RepoError::unexpected("Failed to compute the lease", err))?;
    let lease_until = micros(now + lease);
    let mut due = jobs::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Status.eq(JobStatus::Queued.as_str()))
        .filter(Column::RunAt.lte(now))
        .filter(Column::Kind.is_in(claim.kinds.iter().map(String::as_str)))
        .order_by_asc(Column::RunAt)
        .order_by_asc(Column::Id)
        .limit(u64::from(claim.limit))
        .into_query();
    if db.get_database_backend() == DbBackend::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let update = set_status(jobs::Entity::update_many(), JobStatus::Running)
        .col_expr(Column::LeaseOwner, Expr::value(claim.worker.as_str()))
        .col_expr(Column::LeaseExpiresAt, Expr::value(lease_until))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(
            Column::StartedAt,
            Func::coalesce([Expr::col(Column::StartedAt), Expr::value(now)]).into(),
        )
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Expr::col(Column::Id).in_subquery(due));
    let mut claimed = update_returning(&db, update)
        .await
        .or_repo("Failed to claim jobs")?;
    // RETURNING keeps no order.
    claimed.sort_by_key(|job| (job.run_at, job.id));
    to_jobs(claimed)
}

/// Renews the lease; with `progress`, also records it and numbers it as an
/// event of the job's creator (returned, to publish after commit).
pub(crate) async fn heartbeat(
    db: Writer<'_>,
    id: Uuid,
    worker: &str,
    lease_until: DateTime<Utc>,
    progress: Option<Progress>,
) -> Result<(Heartbeat, Vec<UserEvent>), RepoError> {
    let update = held(id, worker)
        .col_expr(Column::LeaseExpiresAt, Expr::value(micros(lease_until)))
        // The port passes no `now` here: the renewal is stamped as it happens.
        .col_expr(Column::UpdatedAt, Expr::value(micros(Utc::now())));
    let Some(progress) = progress else {
        let mut statement = update.into_query();
        statement.returning_col(Column::CancelRequested);
        let row = db
            .query_one(&statement)
            .await
            .or_repo("Failed to renew job lease")?;
        let heartbeat = match row {
            Some(row) => Heartbeat::Renewed {
                cancel_requested: row
                    .try_get("", "cancel_requested")
                    .or_repo("Failed to read job lease")?,
            },
            None => Heartbeat::Lost,
        };
        return Ok((heartbeat, Vec::new()));
    };
    let message = progress.message.as_deref().map(bounded_message);
    let update = update
        .col_expr(
            Column::Progress,
            Expr::value(progress.percent.clamp(0, 100)),
        )
        .col_expr(Column::ProgressMessage, Expr::value(message));
    let txn = db.begin().await?;
    let renewed = to_jobs(
        update_returning(&txn, update)
            .await
            .or_repo("Failed to record job progress")?,
    )?;
    let events = job_events_in(&txn, &renewed).await?;
    txn.commit()
        .await
        .or_repo("Failed to commit job progress")?;
    let heartbeat = match renewed.first() {
        Some(job) => Heartbeat::Renewed {
            cancel_requested: job.cancel_requested,
        },
        None => Heartbeat::Lost,
    };
    Ok((heartbeat, events))
}

pub(crate) async fn finish(
    db: Writer<'_>,
    id: Uuid,
    worker: &str,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<(bool, Vec<UserEvent>), RepoError> {
    let now = micros(now);
    let update = release_lease(held(id, worker), now);
    let finished = |update: UpdateMany<jobs::Entity>, status| {
        set_status(update, status).col_expr(Column::FinishedAt, Expr::value(now))
    };
    // The next attempt starts from nothing.
    let again = |update: UpdateMany<jobs::Entity>, run_at: DateTime<Utc>| {
        set_status(update, JobStatus::Queued)
            .col_expr(Column::RunAt, Expr::value(micros(run_at)))
            .col_expr(Column::Progress, Expr::value(0_i16))
            .col_expr(Column::ProgressMessage, Expr::value(None::<String>))
    };
    // The update, and the status it leaves the job in.
    let (update, status) = match outcome {
        Outcome::Succeeded { result } => (
            finished(update, JobStatus::Succeeded)
                .col_expr(Column::Result, Expr::value(result))
                .col_expr(Column::Progress, Expr::value(100_i16)),
            JobStatus::Succeeded,
        ),
        Outcome::Retry { error, run_at } => (
            again(update, run_at).col_expr(Column::LastError, Expr::value(bounded_message(&error))),
            JobStatus::Queued,
        ),
        Outcome::Dead { error } => (
            finished(update, JobStatus::Dead)
                .col_expr(Column::LastError, Expr::value(bounded_message(&error))),
            JobStatus::Dead,
        ),
        Outcome::Failed { error } => (
            finished(update, JobStatus::Failed)
                .col_expr(Column::LastError, Expr::value(bounded_message(&error))),
            JobStatus::Failed,
        ),
        Outcome::Cancelled => (finished(update, JobStatus::Cancelled), JobStatus::Cancelled),
        // Handed back unstarted-in-effect: the attempt its claim counted
        // is given back.
        Outcome::Released => (
            again(update, now).col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1)),
            JobStatus::Queued,
        ),
    };
    // A job nobody asked for (mail, housekeeping) has no events and tells
    // nobody: one statement, as the queue's hottest path should be. Only a
    // miss (the job has a creator, or the lease was lost) pays for the
    // transaction below.
    let unowned = update
        .clone()
        .filter(Column::CreatedBy.is_null())
        .exec(&db)
        .await
        .or_repo("Failed to finish job")?;
    if unowned.rows_affected == 1 {
        return Ok((true, Vec::new()));
    }
    let txn = db.begin().await?;
    let finished = to_jobs(
        update_returning(&txn, update)
            .await
            .or_repo("Failed to finish job")?,
    )?;
    let events = reported_in(&txn, &finished, status, now).await?;
    txn.commit().await.or_repo("Failed to commit job outcome")?;
    Ok((!finished.is_empty(), events))
}

/// The events of `jobs`, which just moved to `status` in `txn`: each job's
/// new state for its creator, then the notification of an end they are
/// told of.
async fn reported_in(
    txn: &impl ConnectionTrait,
    jobs: &[Job],
    status: JobStatus,
    now: DateTime<Utc>,
) -> Result<Vec<UserEvent>, RepoError> {
    let mut events = job_events_in(txn, jobs).await?;
    for job in jobs {
        if let Some(told) =
            NewNotification::job_finished(job.created_by, job.id, &job.kind, status, now)
        {
            events.push(notify_in(txn, told).await?);
        }
    }
    Ok(events)
}

/// Two statements in one write transaction: the jobs out of attempts die,
/// then the others are queued again. A worker renewing its lease meanwhile
/// keeps its job: on PostgreSQL the update waits for the renewal's row lock
/// and then finds the lease no longer expired.
pub(crate) async fn reap_expired(
    db: Writer<'_>,
    now: DateTime<Utc>,
) -> Result<(u64, Vec<UserEvent>), RepoError> {
    let now = micros(now);
    let expired = || in_status(JobStatus::Running).filter(Column::LeaseExpiresAt.lt(now));
    let txn = db.begin().await?;
    let dead = release_lease(set_status(expired(), JobStatus::Dead), now)
        .col_expr(Column::LastError, Expr::value(LEASE_EXPIRED))
        .col_expr(Column::FinishedAt, Expr::value(now))
        .filter(Expr::col(Column::Attempts).gte(Expr::col(Column::MaxAttempts)));
    let mut dead = to_jobs(
        update_returning(&txn, dead)
            .await
            .or_repo("Failed to reap expired jobs")?,
    )?;
    let queued = release_lease(set_status(expired(), JobStatus::Queued), now)
        .col_expr(Column::LastError, Expr::value(LEASE_EXPIRED))
        .col_expr(Column::RunAt, Expr::value(now))
        .filter(Expr::col(Column::Attempts).lt(Expr::col(Column::MaxAttempts)));
    let mut queued = to_jobs(
        update_returning(&txn, queued)
            .await
            .or_repo("Failed to reap expired jobs")?,
    )?;
    // Every job row is locked by now; the creators' event numbers are taken
    // after, in one order, so no two writers wait on each other in a circle.
    dead.sort_by_key(|job| job.created_by);
    queued.sort_by_key(|job| job.created_by);
    let mut events = reported_in(&txn, &dead, JobStatus::Dead, now).await?;
    events.extend(job_events_in(&txn, &queued).await?);
    txn.commit().await.or_repo("Failed to commit reaped jobs")?;
    Ok(((dead.len() + queued.len()) as u64, events))
}

/// Reads job `id` inside `txn`, locked until the transaction ends: on
/// PostgreSQL `FOR UPDATE` (a claim skips it, a finish waits); on SQLite the
/// `BEGIN IMMEDIATE` of a write transaction already excludes every other writer.
async fn locked(txn: &impl ConnectionTrait, id: Uuid) -> Result<Job, RepoError> {
    let mut select = jobs::Entity::find_by_id(id);
    if txn.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    select
        .one(txn)
        .await
        .or_repo("Failed to load job")?
        .ok_or(RepoError::NotFound)
        .and_then(Job::try_from)
}

/// The one row `update` changed, as it is now.
async fn changed(
    txn: &impl ConnectionTrait,
    update: UpdateMany<jobs::Entity>,
    context: &'static str,
) -> Result<Job, RepoError> {
    let rows = update_returning(txn, update).await.or_repo(context)?;
    to_jobs(rows)?.pop().ok_or(RepoError::NotFound)
}

/// The status is judged on the locked row and changed in the same
/// transaction, so the answer is true at commit: a job cannot be claimed
/// between the look and the change.
pub(crate) async fn cancel(
    db: Writer<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(CancelResult, Vec<UserEvent>), RepoError> {
    let now = micros(now);
    let txn = db.begin().await?;
    let job = locked(&txn, id).await?;
    let only = jobs::Entity::update_many()
        .filter(Column::Id.eq(id))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    let result = match job.status {
        JobStatus::Queued => {
            let update = set_status(only, JobStatus::Cancelled)
                .col_expr(Column::FinishedAt, Expr::value(now));
            CancelResult::Cancelled(changed(&txn, update, "Failed to cancel job").await?)
        }
        JobStatus::Running => {
            let update = only.col_expr(Column::CancelRequested, Expr::value(true));
            CancelResult::Requested(changed(&txn, update, "Failed to cancel job").await?)
        }
        _ => CancelResult::AlreadyFinished(job),
    };
    // Only a queued job's end is news: a running one ends when its handler
    // stops, and that outcome is reported then.
    let events = match &result {
        CancelResult::Cancelled(job) => job_events_in(&txn, std::slice::from_ref(job)).await?,
        _ => Vec::new(),
    };
    txn.commit().await.or_repo("Failed to commit job cancel")?;
    Ok((result, events))
}

pub(crate) async fn retry(
    db: Writer<'_>,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(Job, Vec<UserEvent>), RepoError> {
    let now = micros(now);
    let txn = db.begin().await?;
    let job = locked(&txn, id).await?;
    if !matches!(job.status, JobStatus::Failed | JobStatus::Dead) {
        txn.rollback()
            .await
            .or_repo("Failed to roll back job retry")?;
        return Err(RepoError::VersionMismatch);
    }
    // `last_error` stays: the reason it needed a retry, until the next
    // attempt says otherwise.
    let update = release_lease(
        set_status(jobs::Entity::update_many(), JobStatus::Queued),
        now,
    )
    .filter(Column::Id.eq(id))
    .col_expr(Column::Attempts, Expr::value(0))
    .col_expr(Column::RunAt, Expr::value(now))
    .col_expr(Column::FinishedAt, Expr::value(None::<DateTime<Utc>>))
    .col_expr(Column::CancelRequested, Expr::value(false))
    .col_expr(Column::Progress, Expr::value(0_i16))
    .col_expr(Column::ProgressMessage, Expr::value(None::<String>));
    let retried = changed(&txn, update, "Failed to retry job").await?;
    let events = job_events_in(&txn, std::slice::from_ref(&retried)).await?;
    txn.commit().await.or_repo("Failed to commit job retry")?;
    Ok((retried, events))
}
