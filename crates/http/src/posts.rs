//! `/api/v1/posts`: the public blog. Reading posts here; writing them in
//! `posts/edit.rs`; their comments in `posts/comments.rs`; the feed,
//! favorites and tags in `posts/social.rs`.

mod comments;
mod edit;
mod social;

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::posts::{self, Author, Post, PostFilter, PostSortField, Slug};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::page::{PageResponse, cursor, keyset_position, list_params, query_text};

pub use comments::{CommentResponse, CreateCommentRequest};
pub use edit::{CreatePostRequest, UpdatePostRequest};

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    // Fixed paths before `/posts/{id}`, which would otherwise claim "feed"
    // and "by-slug" and answer 405 (or 400) for a malformed UUID.
    cfg.service(list_posts)
        .service(edit::create_post)
        .service(social::feed)
        .service(get_post_by_slug)
        .service(get_post)
        .service(edit::update_post)
        .service(edit::delete_post)
        .service(social::favorite)
        .service(social::unfavorite)
        .service(comments::list_comments)
        .service(comments::create_comment)
        .service(comments::get_comment)
        .service(comments::delete_comment)
        .service(social::list_tags);
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
    /// The post's name in URLs (`GET /posts/by-slug/{slug}`): fixed at
    /// creation, so links survive a new title.
    #[schema(example = "hello-world-0a1b2c3d4e5f")]
    pub slug: String,
    pub title: String,
    /// A one-line summary shown in lists; `null` when the post has none.
    pub description: Option<String>,
    pub body: String,
    /// In the order given, without repeats.
    #[schema(example = json!(["rust", "web"]))]
    pub tags: Vec<String>,
    pub author: AuthorResponse,
    pub comment_count: u64,
    /// How many users marked the post as a favorite.
    pub favorites_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Post> for PostResponse {
    fn from(post: &Post) -> Self {
        Self {
            id: post.id,
            slug: post.slug.as_str().to_owned(),
            title: post.title.as_str().to_owned(),
            description: post.description.as_ref().map(|d| d.as_str().to_owned()),
            body: post.body.as_str().to_owned(),
            tags: post.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            author: (&post.author).into(),
            comment_count: post.comment_count,
            favorites_count: post.favorites_count,
            created_at: post.created_at,
            updated_at: post.updated_at,
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
    /// Only posts carrying this tag (exact, after trimming).
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub tag: Option<String>,
    /// Only posts this username (case-insensitive) marked as a favorite.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub favorited: Option<String>,
}

/// `limit` and `offset` of the lists that have no other parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000 (`strata_domain::page::MAX_OFFSET`), default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

/// The `tag` filter: compared exactly, so only trimmed, never lower-cased.
///
/// # Errors
/// 422 naming `tag` when it holds a control character.
fn tag_filter(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    posts::tag_filter(raw).map_err(|v| ValidationErrors::single("tag", v).into())
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
        tag: tag_filter(query.tag.as_deref())?,
        favorited_by: query_text("favorited", query.favorited.as_deref())?,
        followed_by: None,
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

/// One post by its slug. Public.
#[utoipa::path(
    tag = "posts",
    params(("slug" = String, Path, description = "The post's `slug`", min_length = 1, max_length = 93, pattern = "^[a-z0-9-]+$")),
    responses(
        (status = 200, body = PostResponse),
        (status = 404, description = "No post has this slug", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/posts/by-slug/{slug}")]
pub async fn get_post_by_slug(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<web::Json<PostResponse>, ApiError> {
    // Nothing but a valid slug can name a post.
    let slug = Slug::parse(&slug).map_err(|_| ApiError::NotFound("Post"))?;
    let post = state.posts.get_by_slug(&slug).await?;
    Ok(web::Json(PostResponse::from(&post)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_documented_slug_bound_is_the_domains() {
        assert_eq!(Slug::MAX, 93);
    }

    #[test]
    fn the_tag_filter_is_trimmed_not_folded() {
        assert_eq!(tag_filter(Some(" Rust ")).unwrap(), Some("Rust".into()));
        assert_eq!(tag_filter(Some("  ")).unwrap(), None);
        assert!(tag_filter(Some("a\u{0}")).is_err());
    }
}
