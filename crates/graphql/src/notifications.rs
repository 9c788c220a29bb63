//! The caller's notifications, newest first.

use async_graphql::{Context, Json, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use strata_domain::notifications::Notification;
use uuid::Uuid;

use crate::context::{caller, services};
use crate::error;
use crate::page::{self, PageOf};

#[derive(Debug)]
pub(crate) struct NotificationObject(pub Notification);

#[Object(name = "Notification")]
impl NotificationObject {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// `comment.created`, `job.finished` or `role.changed`, as on REST.
    async fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    async fn data(&self) -> Json<&Value> {
        Json(&self.0.data)
    }
    async fn read(&self) -> bool {
        self.0.read_at.is_some()
    }
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Debug, Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The caller's notifications, newest first; only unread ones with
    /// `unreadOnly`.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] unread_only: bool,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<NotificationObject>> {
        let caller = caller(ctx)?;
        let page = page::request(limit, offset)?;
        let notifications = services(ctx)?
            .notifications
            .list(&caller, unread_only, page)
            .await
            .map_err(error::service)?;
        Ok(PageOf::from_page(notifications, NotificationObject))
    }
}

#[derive(Debug, Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Marks one of the caller's notifications read.
    async fn mark_notification_read(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> Result<NotificationObject> {
        let caller = caller(ctx)?;
        services(ctx)?
            .notifications
            .mark_read(&caller, id)
            .await
            .map(NotificationObject)
            .map_err(error::service)
    }

    /// Marks all the caller's notifications read; how many were unread.
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>) -> Result<u64> {
        let caller = caller(ctx)?;
        services(ctx)?
            .notifications
            .mark_all_read(&caller)
            .await
            .map_err(error::service)
    }
}
