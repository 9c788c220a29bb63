//! Notifications, stored in `notifications`. They are inserted by the
//! repositories whose changes cause them ([`notify_in`], inside those
//! changes' transactions); this adapter reads and marks them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use strata_domain::RepoError;
use strata_domain::notifications::{
    NewNotification, Notification, NotificationFilter, NotificationKind, NotificationRepository,
};
use strata_domain::page::{Page, PageRequest};
use strata_domain::realtime::UserEvent;
use uuid::Uuid;

use crate::counts::CountCache;
use crate::entities::notifications::{self, Column};
use crate::error::DbResultExt;
use crate::query::{micros, paged};
use crate::realtime::next_seq_in;
use crate::tx::WriteGate;

/// Stored kinds the domain does not know: a row written by a newer release.
#[derive(Debug, thiserror::Error)]
#[error("unknown notification kind {0:?}")]
struct UnknownKind(String);

impl TryFrom<notifications::Model> for Notification {
    type Error = RepoError;

    fn try_from(row: notifications::Model) -> Result<Self, Self::Error> {
        let kind = NotificationKind::parse(&row.kind).ok_or_else(|| {
            RepoError::unexpected("Failed to read notification", UnknownKind(row.kind.clone()))
        })?;
        Ok(Notification {
            id: row.id,
            user_id: row.user_id,
            kind,
            data: row.data,
            read_at: row.read_at,
            created_at: row.created_at,
        })
    }
}

/// Inserts `notification` on `conn`: the transaction of the change that
/// causes it, so that both commit or neither does. Returns the event to
/// publish once that transaction committed.
pub(crate) async fn notify_in(
    conn: &impl ConnectionTrait,
    notification: NewNotification,
) -> Result<UserEvent, RepoError> {
    let seq = next_seq_in(conn, notification.user_id).await?;
    let told = Notification {
        id: notification.id,
        user_id: notification.user_id,
        kind: notification.kind,
        data: notification.data.clone(),
        read_at: None,
        created_at: micros(notification.created_at),
    };
    notifications::Entity::insert(notifications::ActiveModel {
        id: Set(notification.id),
        user_id: Set(notification.user_id),
        kind: Set(notification.kind.as_str().to_owned()),
        data: Set(notification.data),
        read_at: Set(None),
        created_at: Set(micros(notification.created_at)),
        seq: Set(i64::try_from(seq).unwrap_or(i64::MAX)),
    })
    .exec_without_returning(conn)
    .await
    .or_repo("Failed to insert notification")?;
    Ok(UserEvent::of_notification(&told, seq))
}

/// [`NotificationRepository`] over sea-orm.
#[derive(Debug, Clone)]
pub struct SeaNotificationRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
    /// List totals, reused until the next write (see [`CountCache`]).
    totals: Arc<CountCache<NotificationFilter>>,
}

impl SeaNotificationRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self {
            db,
            writes,
            totals: Arc::default(),
        }
    }
}

fn filtered(filter: &NotificationFilter) -> Select<notifications::Entity> {
    let mut select = notifications::Entity::find().filter(Column::UserId.eq(filter.user_id));
    if filter.unread_only {
        select = select.filter(Column::ReadAt.is_null());
    }
    select
}

#[async_trait]
impl NotificationRepository for SeaNotificationRepository {
    async fn list(
        &self,
        filter: NotificationFilter,
        page: PageRequest,
    ) -> Result<Page<Notification>, RepoError> {
        let select = filtered(&filter);
        // Newest first, ties by id the same way: the indexes' order, read
        // backwards.
        let rows = select
            .clone()
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(page.limit())
            .offset(page.offset())
            .all(&self.db)
            .await
            .or_repo("Failed to list notifications")?;
        let counted = self.totals.count(
            &self.writes,
            &filter,
            &select,
            &self.db,
            "Failed to count notifications",
        );
        let items = rows
            .into_iter()
            .map(Notification::try_from)
            .collect::<Result<_, _>>()?;
        paged(page, false, items, counted).await
    }

    async fn mark_read(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Notification, RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        // Only an unread one changes: the first read time is the one kept.
        notifications::Entity::update_many()
            .col_expr(Column::ReadAt, Expr::value(micros(now)))
            .filter(Column::Id.eq(id))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::ReadAt.is_null())
            .exec(&txn)
            .await
            .or_repo("Failed to mark notification read")?;
        let row = notifications::Entity::find_by_id(id)
            .filter(Column::UserId.eq(user_id))
            .one(&txn)
            .await
            .or_repo("Failed to load notification")?
            .ok_or(RepoError::NotFound)?;
        txn.commit()
            .await
            .or_repo("Failed to commit notification read")?;
        Notification::try_from(row)
    }

    async fn mark_all_read(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let db = self.writes.enter(&self.db).await?;
        let result = notifications::Entity::update_many()
            .col_expr(Column::ReadAt, Expr::value(micros(now)))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::ReadAt.is_null())
            .exec(&db)
            .await
            .or_repo("Failed to mark notifications read")?;
        Ok(result.rows_affected)
    }
}
