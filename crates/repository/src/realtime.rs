//! The user events behind the WebSocket (docs/realtime.md): numbering them in
//! the transactions of the changes they report, publishing them once those
//! committed, replaying them from the tables, and the socket tickets.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};
use strata_domain::RepoError;
use strata_domain::events::{Event, EventBus, EventPayload, Topic};
use strata_domain::jobs::Job;
use strata_domain::notifications::Notification;
use strata_domain::realtime::{MAX_REPLAY, NewTicket, RealtimeRepository, Ticket, UserEvent};
use uuid::Uuid;

use crate::entities::{event_sequences, jobs, notifications, ws_tickets};
use crate::error::DbResultExt;
use crate::jobs::to_jobs;
use crate::query::micros;
use crate::tx::WriteGate;

/// Takes the next event number of `user_id` in `conn`'s transaction. On
/// PostgreSQL the row stays locked until that transaction ends, so a user's
/// numbers commit in the order they were taken; on SQLite every writer is
/// serialised anyway.
///
/// # Errors
/// [`RepoError::NotFound`] when the user does not exist; storage failures.
pub(crate) async fn next_seq_in(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, RepoError> {
    use event_sequences::Column;
    let mut insert = event_sequences::Entity::insert(event_sequences::ActiveModel {
        user_id: Set(user_id),
        last_seq: Set(1),
    })
    .on_conflict(
        OnConflict::column(Column::UserId)
            .value(
                Column::LastSeq,
                Expr::col((event_sequences::Entity, Column::LastSeq)).add(1),
            )
            .to_owned(),
    )
    .into_query();
    insert.returning_col(Column::LastSeq);
    let row = conn
        .query_one(&insert)
        .await
        .or_repo("Failed to number user event")?
        .ok_or(RepoError::NotFound)?;
    let seq: i64 = row
        .try_get("", "last_seq")
        .or_repo("Failed to read user event number")?;
    Ok(u64::try_from(seq).unwrap_or(0))
}

/// Numbers the change `jobs` just went through (they are read after it, in
/// `conn`'s transaction) for each job's creator, stamps the rows, and
/// returns the events to publish after commit. Jobs nobody asked for have
/// no events.
pub(crate) async fn job_events_in(
    conn: &impl ConnectionTrait,
    jobs: &[Job],
) -> Result<Vec<UserEvent>, RepoError> {
    let mut events = Vec::new();
    for job in jobs {
        let Some(user_id) = job.created_by else {
            continue;
        };
        let seq = next_seq_in(conn, user_id).await?;
        jobs::Entity::update_many()
            .col_expr(jobs::Column::EventSeq, Expr::value(seq_value(seq)))
            .filter(jobs::Column::Id.eq(job.id))
            .exec(conn)
            .await
            .or_repo("Failed to number job event")?;
        events.extend(UserEvent::of_job(job, seq));
    }
    Ok(events)
}

fn seq_value(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Publishes user events on the bus once their transaction committed. A
/// failure is logged, never returned: the change itself committed, and a
/// socket that misses an event finds it in the tables (see docs/realtime.md).
#[derive(Clone, Default)]
pub(crate) struct Publisher {
    bus: Option<Arc<dyn EventBus>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("bus", &self.bus.as_ref().map(|bus| bus.name()))
            .finish()
    }
}

impl Publisher {
    pub(crate) fn new(bus: Arc<dyn EventBus>) -> Self {
        Self { bus: Some(bus) }
    }

    pub(crate) async fn publish(&self, events: Vec<UserEvent>) {
        let Some(bus) = &self.bus else { return };
        for event in events {
            let topic = Topic::user(event.user_id);
            let seq = event.seq;
            let published = bus
                .publish(Event {
                    topic,
                    payload: EventPayload::User(event),
                })
                .await;
            if let Err(err) = published {
                metrics::counter!("strata_ws_events_unpublished_total").increment(1);
                tracing::warn!(bus = bus.name(), seq, error = %err, "user event not published; sockets find it in the tables");
            }
        }
    }
}

/// [`RealtimeRepository`] over sea-orm.
#[derive(Debug, Clone)]
pub struct SeaRealtimeRepository {
    db: DatabaseConnection,
    writes: WriteGate,
}

impl SeaRealtimeRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self { db, writes }
    }
}

#[async_trait]
impl RealtimeRepository for SeaRealtimeRepository {
    async fn store_ticket(&self, ticket: NewTicket, now: DateTime<Utc>) -> Result<(), RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        // Expired tickets go with the next one issued: the table stays as
        // small as the tickets of the last half minute.
        ws_tickets::Entity::delete_many()
            .filter(ws_tickets::Column::ExpiresAt.lt(micros(now)))
            .exec(&txn)
            .await
            .or_repo("Failed to forget expired tickets")?;
        ws_tickets::Entity::insert(ws_tickets::ActiveModel {
            token_hash: Set(ticket.token_hash),
            user_id: Set(ticket.user_id),
            session_id: Set(ticket.session_id),
            access_expires_at: Set(micros(ticket.access_expires_at)),
            expires_at: Set(micros(ticket.expires_at)),
        })
        .exec_without_returning(&txn)
        .await
        .or_repo("Failed to store ticket")?;
        txn.commit().await.or_repo("Failed to commit ticket")
    }

    async fn take_ticket(&self, token_hash: &str) -> Result<Option<Ticket>, RepoError> {
        let db = self.writes.enter(&self.db).await?;
        // DELETE … RETURNING: the row goes to exactly one of concurrent takers.
        let mut delete = ws_tickets::Entity::delete_many()
            .filter(ws_tickets::Column::TokenHash.eq(token_hash))
            .into_query();
        delete.returning_all();
        let row = db
            .query_one(&delete)
            .await
            .or_repo("Failed to take ticket")?;
        let Some(row) = row else { return Ok(None) };
        let row = <ws_tickets::Model as sea_orm::FromQueryResult>::from_query_result(&row, "")
            .or_repo("Failed to read ticket")?;
        Ok(Some(Ticket {
            user_id: row.user_id,
            session_id: row.session_id,
            access_expires_at: row.access_expires_at,
            expires_at: row.expires_at,
        }))
    }

    async fn latest_seq(&self, user_id: Uuid) -> Result<u64, RepoError> {
        let seq: Option<i64> = event_sequences::Entity::find_by_id(user_id)
            .select_only()
            .column(event_sequences::Column::LastSeq)
            .into_tuple()
            .one(&self.db)
            .await
            .or_repo("Failed to read user event number")?;
        Ok(seq.and_then(|seq| u64::try_from(seq).ok()).unwrap_or(0))
    }

    async fn events_after(&self, user_id: Uuid, after: u64) -> Result<Vec<UserEvent>, RepoError> {
        let after = seq_value(after);
        let notes = notifications::Entity::find()
            .filter(notifications::Column::UserId.eq(user_id))
            .filter(notifications::Column::Seq.gt(after))
            .order_by_asc(notifications::Column::Seq)
            .limit(MAX_REPLAY)
            .all(&self.db)
            .await
            .or_repo("Failed to replay notifications")?;
        let changed = jobs::Entity::find()
            .filter(jobs::Column::CreatedBy.eq(user_id))
            .filter(jobs::Column::EventSeq.gt(after))
            .order_by_asc(jobs::Column::EventSeq)
            .limit(MAX_REPLAY)
            .all(&self.db)
            .await
            .or_repo("Failed to replay jobs")?;
        let mut events = Vec::with_capacity(notes.len() + changed.len());
        for row in notes {
            let seq = u64::try_from(row.seq).unwrap_or(0);
            events.push(UserEvent::of_notification(
                &Notification::try_from(row)?,
                seq,
            ));
        }
        let seqs: Vec<i64> = changed.iter().map(|row| row.event_seq).collect();
        for (job, seq) in to_jobs(changed)?.iter().zip(seqs) {
            events.extend(UserEvent::of_job(job, u64::try_from(seq).unwrap_or(0)));
        }
        // A full list may stop before numbers the other one holds; the
        // lowest MAX_REPLAY of both together never go past where either
        // list stopped (more than that many numbers lie below that point).
        events.sort_by_key(|event| event.seq);
        events.truncate(usize::try_from(MAX_REPLAY).unwrap_or(usize::MAX));
        Ok(events)
    }
}
