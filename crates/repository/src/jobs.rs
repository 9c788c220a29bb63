//! The durable job queue, stored in `jobs`.
//!
//! This file holds the repository, enqueueing and the reads; the state
//! changes of a job's life (claim, lease, outcome, cancel, retry) are in
//! `jobs_lease.rs`, and waking idle workers in `jobs_wake.rs`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select, UpdateMany,
};
use strata_domain::RepoError;
use strata_domain::events::EventBus;
use strata_domain::idempotency::Completion;
use strata_domain::jobs::{
    CancelResult, Claim, Heartbeat, Job, JobCount, JobFilter, JobRepository, JobStatus, NewJob,
    Outcome, Progress,
};
use strata_domain::page::{Page, PageRequest};
use uuid::Uuid;

use crate::entities::jobs;
use crate::error::DbResultExt;
use crate::idempotency;
use crate::jobs_lease as lease;
use crate::jobs_wake::{CHANNEL, Wakeup};
use crate::query::{count, invalid_row, micros, paged};
use crate::realtime::Publisher;
use crate::tx::WriteGate;

/// [`JobRepository`] over sea-orm.
///
/// Clones share one [`Wakeup`], and on PostgreSQL the one background task
/// that listens for other instances' enqueues (started by the first
/// [`JobRepository::wait_for_jobs`], ended with the last clone).
#[derive(Debug, Clone)]
pub struct SeaJobRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
    wakeup: Arc<Wakeup>,
    /// Where the jobs' progress and ends are announced to their creators.
    events: Publisher,
}

impl SeaJobRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        let wakeup = Wakeup::of(&db);
        Self {
            db,
            writes,
            wakeup,
            events: Publisher::default(),
        }
    }

    /// Publishes the jobs' progress, ends and notifications on `bus`, after
    /// commit.
    #[must_use]
    pub fn with_events(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.events = Publisher::new(bus);
        self
    }
}

/// Inserts `job` in the caller's transaction `txn`, for a business write
/// whose job must exist exactly when the write does. Returns `false`,
/// writing nothing, when a job with the same `unique_key` exists.
///
/// On PostgreSQL it also sends `NOTIFY strata_jobs`, which the server
/// delivers only if `txn` commits. On SQLite nothing leaves the process
/// until the caller, after committing, calls
/// [`crate::jobs_wake::committed`]; without that, workers still find the
/// job at their next poll.
///
/// # Errors
/// [`RepoError::NotFound`] when `created_by` names no account; storage
/// failures.
pub(crate) async fn enqueue_in(
    txn: &impl ConnectionTrait,
    job: &NewJob,
) -> Result<bool, RepoError> {
    let created_at = micros(job.created_at);
    let row = jobs::ActiveModel {
        id: Set(job.id),
        kind: Set(job.kind.clone()),
        payload: Set(job.payload.clone()),
        status: Set(JobStatus::Queued.as_str().to_owned()),
        attempts: Set(0),
        max_attempts: Set(std::cmp::max(job.max_attempts, 1)),
        run_at: Set(micros(job.run_at)),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        progress: Set(0),
        progress_message: Set(None),
        result: Set(None),
        last_error: Set(None),
        cancel_requested: Set(false),
        created_by: Set(job.created_by),
        unique_key: Set(job.unique_key.clone()),
        created_at: Set(created_at),
        started_at: Set(None),
        finished_at: Set(None),
        updated_at: Set(created_at),
        event_seq: Set(0),
    };
    // `DO NOTHING` rather than catching the violation: on PostgreSQL a
    // failed statement would abort the caller's whole transaction.
    let inserted = jobs::Entity::insert(row)
        .on_conflict(
            OnConflict::column(jobs::Column::UniqueKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .or_repo("Failed to insert job")?;
    if inserted == 0 {
        return Ok(false);
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        crate::pg_listen::notify(txn, CHANNEL, &job.kind)
            .await
            .or_repo("Failed to notify workers")?;
    }
    Ok(true)
}

impl TryFrom<jobs::Model> for Job {
    type Error = RepoError;

    fn try_from(row: jobs::Model) -> Result<Self, Self::Error> {
        let status = JobStatus::parse(&row.status)
            .ok_or_else(|| invalid_row("jobs", row.id, "status", &row.status))?;
        Ok(Job {
            id: row.id,
            kind: row.kind,
            payload: row.payload,
            status,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            run_at: row.run_at,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
            progress: row.progress,
            progress_message: row.progress_message,
            result: row.result,
            last_error: row.last_error,
            cancel_requested: row.cancel_requested,
            created_by: row.created_by,
            unique_key: row.unique_key,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) fn to_jobs(rows: Vec<jobs::Model>) -> Result<Vec<Job>, RepoError> {
    rows.into_iter().map(Job::try_from).collect()
}

/// Runs `update` and returns the rows it changed, as they are after it, in
/// one statement (`UPDATE … RETURNING *`, SQLite 3.35 and later).
///
/// Built by hand because sea-orm's `exec_with_returning` refuses SQLite
/// unless its `sqlite-use-returning-for-3_35` feature is on, which would
/// change every other insert of the crate too.
pub(crate) async fn update_returning(
    conn: &impl ConnectionTrait,
    update: UpdateMany<jobs::Entity>,
) -> Result<Vec<jobs::Model>, DbErr> {
    let mut statement = update.into_query();
    statement.returning_all();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| jobs::Model::from_query_result(row, ""))
        .collect()
}

/// The statuses a job never leaves on its own.
pub(crate) fn terminal() -> Vec<&'static str> {
    JobStatus::ALL
        .into_iter()
        .filter(|status| status.is_terminal())
        .map(JobStatus::as_str)
        .collect()
}

fn filtered(filter: &JobFilter) -> Select<jobs::Entity> {
    let mut select = jobs::Entity::find();
    if let Some(created_by) = filter.created_by {
        select = select.filter(jobs::Column::CreatedBy.eq(created_by));
    }
    if let Some(status) = filter.status {
        select = select.filter(jobs::Column::Status.eq(status.as_str()));
    }
    if let Some(kind) = &filter.kind {
        select = select.filter(jobs::Column::Kind.eq(kind.as_str()));
    }
    select
}

/// Stored statuses the domain does not know: a row written by a newer
/// version, or edited by hand.
#[derive(Debug, thiserror::Error)]
#[error("unknown job status {0:?}")]
struct UnknownStatus(String);

#[async_trait]
impl JobRepository for SeaJobRepository {
    async fn enqueue_keyed(
        &self,
        job: NewJob,
        once: Option<Completion<NewJob>>,
    ) -> Result<bool, RepoError> {
        let inserted = {
            let txn = self.writes.begin(&self.db).await?;
            let inserted = enqueue_in(&txn, &job).await?;
            idempotency::complete(&txn, once, &job).await?;
            txn.commit().await.or_repo("Failed to commit job")?;
            inserted
        };
        // After the commit: a woken worker must find the job.
        if inserted {
            self.wakeup.wake();
        }
        Ok(inserted)
    }

    async fn claim(&self, claim: Claim, now: DateTime<Utc>) -> Result<Vec<Job>, RepoError> {
        if claim.kinds.is_empty() || claim.limit == 0 {
            return Ok(Vec::new());
        }
        let db = self.writes.enter(&self.db).await?;
        lease::claim(db, &claim, now).await
    }

    async fn heartbeat(
        &self,
        id: Uuid,
        worker: &str,
        lease_until: DateTime<Utc>,
        progress: Option<Progress>,
    ) -> Result<Heartbeat, RepoError> {
        let (heartbeat, events) = {
            let db = self.writes.enter(&self.db).await?;
            lease::heartbeat(db, id, worker, lease_until, progress).await?
        };
        self.events.publish(events).await;
        Ok(heartbeat)
    }

    async fn finish(
        &self,
        id: Uuid,
        worker: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let (recorded, events) = {
            let db = self.writes.enter(&self.db).await?;
            lease::finish(db, id, worker, outcome, now).await?
        };
        self.events.publish(events).await;
        Ok(recorded)
    }

    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let (reaped, events) = {
            let db = self.writes.enter(&self.db).await?;
            lease::reap_expired(db, now).await?
        };
        self.events.publish(events).await;
        Ok(reaped)
    }

    async fn cancel(&self, id: Uuid, now: DateTime<Utc>) -> Result<CancelResult, RepoError> {
        let (result, events) = {
            let db = self.writes.enter(&self.db).await?;
            lease::cancel(db, id, now).await?
        };
        self.events.publish(events).await;
        Ok(result)
    }

    async fn retry(&self, id: Uuid, now: DateTime<Utc>) -> Result<Job, RepoError> {
        let (retried, events) = {
            let db = self.writes.enter(&self.db).await?;
            lease::retry(db, id, now).await?
        };
        self.wakeup.wake();
        self.events.publish(events).await;
        Ok(retried)
    }

    async fn find(&self, id: Uuid) -> Result<Job, RepoError> {
        jobs::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .or_repo("Failed to load job")?
            .ok_or(RepoError::NotFound)
            .and_then(Job::try_from)
    }

    async fn list(&self, filter: JobFilter, page: PageRequest) -> Result<Page<Job>, RepoError> {
        let select = filtered(&filter);
        let rows = select
            .clone()
            .order_by_desc(jobs::Column::CreatedAt)
            .order_by_desc(jobs::Column::Id)
            .limit(page.limit())
            .offset(page.offset())
            .all(&self.db)
            .await
            .or_repo("Failed to list jobs")?;
        let counted = async { select.count(&self.db).await.or_repo("Failed to count jobs") };
        paged(page, false, to_jobs(rows)?, counted).await
    }

    async fn finished_before(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Job>, RepoError> {
        // Only terminal jobs have a `finished_at`; the status is checked as
        // "not live" so that no planner takes a status index (and sorts)
        // over the walk of `ix_jobs_finished` in order.
        let live = [JobStatus::Queued, JobStatus::Running].map(JobStatus::as_str);
        let rows = jobs::Entity::find()
            .filter(jobs::Column::FinishedAt.lt(micros(before)))
            .filter(jobs::Column::Status.is_not_in(live))
            .order_by_asc(jobs::Column::FinishedAt)
            .order_by_asc(jobs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .or_repo("Failed to list finished jobs")?;
        to_jobs(rows)
    }

    async fn delete_finished(&self, ids: Vec<Uuid>) -> Result<u64, RepoError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let db = self.writes.enter(&self.db).await?;
        let result = jobs::Entity::delete_many()
            .filter(jobs::Column::Id.is_in(ids))
            .filter(jobs::Column::Status.is_in(terminal()))
            .exec(&db)
            .await
            .or_repo("Failed to delete finished jobs")?;
        Ok(result.rows_affected)
    }

    async fn counts(&self) -> Result<Vec<JobCount>, RepoError> {
        let rows: Vec<(String, String, i64)> = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Kind)
            .column(jobs::Column::Status)
            .column_as(Expr::col(jobs::Column::Id).count(), "n")
            .group_by(jobs::Column::Kind)
            .group_by(jobs::Column::Status)
            .order_by_asc(jobs::Column::Kind)
            .order_by_asc(jobs::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .or_repo("Failed to count jobs")?;
        rows.into_iter()
            .map(|(kind, status, n)| {
                let status = JobStatus::parse(&status).ok_or_else(|| {
                    RepoError::unexpected("Failed to count jobs", UnknownStatus(status))
                })?;
                Ok(JobCount {
                    kind,
                    status,
                    count: count(n),
                })
            })
            .collect()
    }

    async fn oldest_due(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, RepoError> {
        // The first entry of the claim index, rather than MIN(): the same
        // walk on both backends, and the column decoded as declared.
        jobs::Entity::find()
            .select_only()
            .column(jobs::Column::RunAt)
            .filter(jobs::Column::Status.eq(JobStatus::Queued.as_str()))
            .filter(jobs::Column::RunAt.lte(micros(now)))
            .order_by_asc(jobs::Column::RunAt)
            .limit(1)
            .into_tuple::<DateTime<Utc>>()
            .one(&self.db)
            .await
            .or_repo("Failed to find the oldest due job")
    }

    async fn wait_for_jobs(&self, max: Duration) {
        self.wakeup.wait(&self.db, max).await;
    }
}
