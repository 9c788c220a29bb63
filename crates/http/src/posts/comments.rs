//! `/api/v1/posts/{id}/comments`: comments on a post, oldest first.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::posts::{Body, Comment, PostSortField};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{AuthorResponse, PageQuery};
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ValidatedJson, Writer};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint_json, once};
use crate::page::{PageResponse, list_params};
use crate::validation;

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentResponse {
    pub id: Uuid,
    pub post_id: Uuid,
    pub body: String,
    pub author: AuthorResponse,
    pub created_at: DateTime<Utc>,
}

impl From<&Comment> for CommentResponse {
    fn from(comment: &Comment) -> Self {
        Self {
            id: comment.id,
            post_id: comment.post_id,
            body: comment.body.as_str().to_owned(),
            author: (&comment.author).into(),
            created_at: comment.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommentRequest {
    #[validate(custom(function = "validation::comment_body"))]
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub body: String,
}

impl CreateCommentRequest {
    fn try_into_domain(self) -> Result<Body, ValidationErrors> {
        Body::parse(&self.body, Body::COMMENT_MAX).map_err(|v| ValidationErrors::single("body", v))
    }
}

/// A post's comments, oldest first. Public.
#[utoipa::path(
    tag = "posts",
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = PageResponse<CommentResponse>),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/posts/{id}/comments")]
pub async fn list_comments(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<PageResponse<CommentResponse>>, ApiError> {
    let (page, _) = list_params::<PostSortField>(query.limit, query.offset, None)?;
    let comments = state.posts.list_comments(id.into_inner(), page).await?;
    Ok(web::Json(PageResponse::from_page(comments, |c| {
        CommentResponse::from(&c)
    })))
}

/// Comment on a post.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path), IdempotencyKeyParam),
    request_body = CreateCommentRequest,
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = CommentResponse, headers(("Location" = String))),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/posts/{id}/comments")]
pub async fn create_comment(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Writer,
    key: KeyHeader,
    id: web::Path<Uuid>,
    body: ValidatedJson<CreateCommentRequest>,
) -> Result<HttpResponse, ApiError> {
    let keyed = key.with(|| fingerprint_json(&req, &body.0));
    let text = body.0.try_into_domain()?;
    once(
        &state.idempotency,
        &caller.0,
        keyed,
        |comment: &Comment| {
            crate::created(format!(
                "/api/v1/posts/{}/comments/{}",
                comment.post_id, comment.id
            ))
            .json(CommentResponse::from(comment))
        },
        |once| {
            state
                .posts
                .add_comment(&caller.0, id.into_inner(), text, once)
        },
    )
    .await
}

/// One comment. Public.
#[utoipa::path(
    tag = "posts",
    params(("id" = Uuid, Path), ("comment_id" = Uuid, Path)),
    responses(
        (status = 200, body = CommentResponse),
        (status = 404, description = "No such comment under this post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/posts/{id}/comments/{comment_id}")]
pub async fn get_comment(
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<web::Json<CommentResponse>, ApiError> {
    let (post_id, comment_id) = path.into_inner();
    let comment = state.posts.get_comment(post_id, comment_id).await?;
    Ok(web::Json(CommentResponse::from(&comment)))
}

/// Delete a comment: its author, the post's author or an admin.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path), ("comment_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`FORBIDDEN`: Not the comment's or the post's author, nor an admin; or `EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such comment under this post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/posts/{id}/comments/{comment_id}")]
pub async fn delete_comment(
    state: web::Data<AppState>,
    caller: Writer,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (post_id, comment_id) = path.into_inner();
    state
        .posts
        .delete_comment(&caller.0, post_id, comment_id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
