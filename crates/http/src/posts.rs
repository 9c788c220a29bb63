//! `/api/v1/posts`: the public blog and its comments.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::items::Title;
use strata_domain::posts::{Author, Body, Comment, Post, PostChanges, PostFilter, PostSortField};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ValidatedJson, Writer};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint_json, once};
use crate::page::{PageResponse, cursor, keyset_position, list_params, query_text};
use crate::validation;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_posts)
        .service(create_post)
        .service(get_post)
        .service(update_post)
        .service(delete_post)
        .service(list_comments)
        .service(create_comment)
        .service(get_comment)
        .service(delete_comment);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorResponse {
    pub id: Uuid,
    #[schema(example = "ada")]
    pub username: String,
}

impl From<&Author> for AuthorResponse {
    fn from(author: &Author) -> Self {
        Self {
            id: author.id,
            username: author.username.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostResponse {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub author: AuthorResponse,
    pub comment_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Post> for PostResponse {
    fn from(post: &Post) -> Self {
        Self {
            id: post.id,
            title: post.title.as_str().to_owned(),
            body: post.body.as_str().to_owned(),
            author: (&post.author).into(),
            comment_count: post.comment_count,
            created_at: post.created_at,
            updated_at: post.updated_at,
        }
    }
}

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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000 (`strata_domain::page::MAX_OFFSET`), default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
    /// The `next_cursor` of the previous page: the posts after it, in the
    /// same `sort` (which must be sent again). Not with `offset`.
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 2048)]
    pub cursor: Option<String>,
    /// `created_at` (default `-created_at`), `updated_at` or `title`; `-` prefix for descending.
    #[param(pattern = "^-?(created_at|updated_at|title)$")]
    pub sort: Option<String>,
    /// Case-insensitive text searched in title and body.
    /// No control characters.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub q: Option<String>,
    /// Only posts by this username (case-insensitive).
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub author: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommentListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000 (`strata_domain::page::MAX_OFFSET`), default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePostRequest {
    #[validate(custom(function = "validation::title"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub title: String,
    #[validate(custom(function = "validation::post_body"))]
    #[schema(
        min_length = 1,
        max_length = 50000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub body: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePostRequest {
    #[validate(custom(function = "validation::title"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub title: Option<String>,
    #[validate(custom(function = "validation::post_body"))]
    #[schema(
        min_length = 1,
        max_length = 50000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub body: Option<String>,
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

impl CreatePostRequest {
    fn try_into_domain(self) -> Result<(Title, Body), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = errors.check("title", Title::parse(&self.title));
        let text = errors.check("body", Body::parse(&self.body, Body::POST_MAX));
        match (title, text) {
            (Some(title), Some(text)) => Ok((title, text)),
            _ => Err(errors),
        }
    }
}

impl UpdatePostRequest {
    fn try_into_domain(self) -> Result<PostChanges, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = self
            .title
            .and_then(|t| errors.check("title", Title::parse(&t)));
        let body = self
            .body
            .and_then(|b| errors.check("body", Body::parse(&b, Body::POST_MAX)));
        errors.into_result()?;
        Ok(PostChanges { title, body })
    }
}

impl CreateCommentRequest {
    fn try_into_domain(self) -> Result<Body, ValidationErrors> {
        Body::parse(&self.body, Body::COMMENT_MAX).map_err(|v| ValidationErrors::single("body", v))
    }
}

/// Posts, newest first by default. Public.
#[utoipa::path(
    tag = "posts",
    params(PostListQuery),
    responses(
        (status = 200, body = PageResponse<PostResponse>),
    )
)]
#[get("/posts")]
pub async fn list_posts(
    state: web::Data<AppState>,
    query: web::Query<PostListQuery>,
) -> Result<web::Json<PageResponse<PostResponse>>, ApiError> {
    let query = query.into_inner();
    let (page, sort) =
        list_params::<PostSortField>(query.limit, query.offset, query.sort.as_deref())?;
    let filter = PostFilter {
        author: query_text("author", query.author.as_deref())?,
        q: query_text("q", query.q.as_deref())?,
    };
    let posts = match keyset_position(query.cursor.as_deref(), query.offset, sort)? {
        Some(after) => state.posts.list_after(filter, sort, after, page).await?,
        None => state.posts.list(filter, sort, page).await?,
    };
    let page = PageResponse::from_page(posts, |p| PostResponse::from(&p));
    Ok(web::Json(page.with_next_cursor(|last| {
        let value = sort
            .field
            .value_of(last.created_at, last.updated_at, &last.title);
        cursor::encode(sort, &value, last.id)
    })))
}

/// Publish a post.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(IdempotencyKeyParam),
    request_body = CreatePostRequest,
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = PostResponse, headers(("Location" = String))),
    )
)]
#[post("/posts")]
pub async fn create_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Writer,
    key: KeyHeader,
    body: ValidatedJson<CreatePostRequest>,
) -> Result<HttpResponse, ApiError> {
    let keyed = key.with(|| fingerprint_json(&req, &body.0));
    let (title, text) = body.0.try_into_domain()?;
    once(
        &state.idempotency,
        &caller.0,
        keyed,
        |post: &Post| {
            crate::created(format!("/api/v1/posts/{}", post.id)).json(PostResponse::from(post))
        },
        |once| state.posts.create(&caller.0, title, text, once),
    )
    .await
}

/// One post. Public.
#[utoipa::path(
    tag = "posts",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = PostResponse),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/posts/{id}")]
pub async fn get_post(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let post = state.posts.get(id.into_inner()).await?;
    Ok(web::Json(PostResponse::from(&post)))
}

/// Edit a post: its author or an admin.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdatePostRequest,
    responses(
        (status = 200, body = PostResponse),
        (status = 403, description = "`FORBIDDEN`: Not the author or an admin; or `EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/posts/{id}")]
pub async fn update_post(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
    body: ValidatedJson<UpdatePostRequest>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let changes = body.0.try_into_domain()?;
    let post = state
        .posts
        .update(&caller.0, id.into_inner(), changes)
        .await?;
    Ok(web::Json(PostResponse::from(&post)))
}

/// Delete a post and its comments: its author or an admin.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted with its comments"),
        (status = 403, description = "`FORBIDDEN`: Not the author or an admin; or `EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/posts/{id}")]
pub async fn delete_post(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.posts.delete(&caller.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A post's comments, oldest first. Public.
#[utoipa::path(
    tag = "posts",
    params(("id" = Uuid, Path), CommentListQuery),
    responses(
        (status = 200, body = PageResponse<CommentResponse>),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/posts/{id}/comments")]
pub async fn list_comments(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<CommentListQuery>,
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
