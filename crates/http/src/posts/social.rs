//! What readers do with posts besides reading them: the feed of the authors
//! they follow, favorites, and the tags in use.

use actix_web::{delete, get, put, web};
use strata_domain::page::Page;
use strata_domain::posts::PostSortField;
use uuid::Uuid;

use super::{PageQuery, PostResponse};
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Writer};
use crate::page::{PageResponse, list_params};

/// Posts by the authors the caller follows, newest first.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = PageResponse<PostResponse>),
    )
)]
#[get("/posts/feed")]
pub async fn feed(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<PageQuery>,
) -> Result<web::Json<PageResponse<PostResponse>>, ApiError> {
    let (page, _) = list_params::<PostSortField>(query.limit, query.offset, None)?;
    let posts = state.posts.feed(&caller.0, page).await?;
    Ok(web::Json(PageResponse::from_page(posts, |p| {
        PostResponse::from(&p)
    })))
}

/// Mark a post as one of the caller's favorites. Marking it again changes
/// nothing.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The post with its new `favorites_count`", body = PostResponse),
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/posts/{id}/favorite")]
pub async fn favorite(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let post = state.posts.favorite(&caller.0, id.into_inner()).await?;
    Ok(web::Json(PostResponse::from(&post)))
}

/// Remove the caller's mark from a post. Removing an absent mark changes
/// nothing.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The post with its new `favorites_count`", body = PostResponse),
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/posts/{id}/favorite")]
pub async fn unfavorite(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let post = state.posts.unfavorite(&caller.0, id.into_inner()).await?;
    Ok(web::Json(PostResponse::from(&post)))
}

/// The tags in use, most used first (ties by name). Public. Only the 100
/// most used are listed (`strata_service::posts::TAGS_LISTED`), and `total`
/// counts those.
#[utoipa::path(
    tag = "posts",
    params(PageQuery),
    responses(
        (status = 200, body = PageResponse<String>, example = json!({"items": ["rust", "web"], "total": 2, "limit": 20, "offset": 0})),
    )
)]
#[get("/tags")]
pub async fn list_tags(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<PageResponse<String>>, ApiError> {
    let (page, _) = list_params::<PostSortField>(query.limit, query.offset, None)?;
    let tags = state.posts.tags().await?;
    let total = u64::try_from(tags.len()).unwrap_or(u64::MAX);
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(page.limit()).unwrap_or(usize::MAX);
    let items = tags
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|tag| tag.as_str().to_owned())
        .collect();
    Ok(web::Json(PageResponse::from_page(
        Page::new(items, total, page),
        |tag| tag,
    )))
}
