//! `/api/v1/notifications`: the caller's notifications, newest first, and
//! marking them read. Everyone sees only their own (admins too); another
//! user's is 404.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_domain::ValidationErrors;
use strata_domain::notifications::{Notification, NotificationKind};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Authenticated;
use crate::page::{PageResponse, page_request};

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    // The fixed path first, as elsewhere.
    cfg.service(read_all)
        .service(list_notifications)
        .service(read_notification);
}

/// What happened. `data` has one shape per kind:
/// `comment.created` `{"post_id", "comment_id", "author"}`,
/// `job.finished` `{"job_id", "kind", "status"}`, `role.changed` `{"role"}`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum NotificationType {
    #[serde(rename = "comment.created")]
    CommentCreated,
    #[serde(rename = "job.finished")]
    JobFinished,
    #[serde(rename = "role.changed")]
    RoleChanged,
}

impl From<NotificationKind> for NotificationType {
    fn from(kind: NotificationKind) -> Self {
        match kind {
            NotificationKind::CommentCreated => Self::CommentCreated,
            NotificationKind::JobFinished => Self::JobFinished,
            NotificationKind::RoleChanged => Self::RoleChanged,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationResponse {
    pub id: Uuid,
    pub kind: NotificationType,
    #[schema(value_type = Object, example = json!({"post_id": "0190b4a8-7d3c-7a51-9c1e-4f5a6b7c8d9e", "comment_id": "0190b4a9-1f00-7c2e-8d41-2b3c4d5e6f70", "author": "grace"}))]
    pub data: Value,
    pub read: bool,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Notification> for NotificationResponse {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind.into(),
            data: n.data,
            read: n.read_at.is_some(),
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationListQuery {
    /// `true`: only those not yet read.
    pub unread: Option<bool>,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000 (`strata_domain::page::MAX_OFFSET`), default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAllResponse {
    /// Notifications that were unread and now are read.
    #[schema(example = 3)]
    pub updated: u64,
}

/// The caller's notifications, newest first.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = []), ("oauth2" = [])),
    params(NotificationListQuery),
    responses(
        (status = 200, body = PageResponse<NotificationResponse>),
        (status = 400, description = "`unread` not `true`/`false`, or a non-numeric `limit`/`offset`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` or `offset` out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/notifications")]
pub async fn list_notifications(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<NotificationListQuery>,
) -> Result<web::Json<PageResponse<NotificationResponse>>, ApiError> {
    let query = query.into_inner();
    let mut errors = ValidationErrors::default();
    let Some(page) = page_request(query.limit, query.offset, &mut errors) else {
        return Err(errors.into());
    };
    let listed = state
        .notifications
        .list(&caller.0, query.unread.unwrap_or(false), page)
        .await?;
    Ok(web::Json(PageResponse::from_page(
        listed,
        NotificationResponse::from,
    )))
}

/// Mark one notification read. Marking it again keeps the first `read_at`.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = NotificationResponse),
        (status = 404, description = "No such notification, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/notifications/{id}/read")]
pub async fn read_notification(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<web::Json<NotificationResponse>, ApiError> {
    let read = state
        .notifications
        .mark_read(&caller.0, id.into_inner())
        .await?;
    Ok(web::Json(read.into()))
}

/// Mark every unread notification of the caller read.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = []), ("oauth2" = [])),
    responses((status = 200, body = ReadAllResponse))
)]
#[post("/notifications/read-all")]
pub async fn read_all(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let updated = state.notifications.mark_all_read(&caller.0).await?;
    Ok(HttpResponse::Ok().json(ReadAllResponse { updated }))
}
