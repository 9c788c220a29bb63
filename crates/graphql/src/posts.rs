//! The blog: public to read, its author's (or an admin's) to change.
//!
//! A page of posts costs a constant number of statements: the page itself
//! (which carries each post's comment and favorite counts), one call for
//! all of its authors and, for a signed-in reader, one for which of them
//! they favorited. `comments` costs one statement per post that selects it,
//! so its complexity is high enough that a page of posts cannot select
//! comments of more than a few.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use strata_domain::ValidationErrors;
use strata_domain::auth::Principal;
use strata_domain::page::{Page, Sort, text_filter};
use strata_domain::posts::{
    self, Body, Comment, Description, Post, PostChanges, PostFilter, PostSortField, Slug, Tag,
};
use strata_domain::profiles::Profile;
use strata_service::posts::PostService;
use strata_service::{PostDraft, ServiceError};
use uuid::Uuid;

use crate::context::{caller, services, viewer, writer};
use crate::error;
use crate::page::{self, PageOf};
use crate::profiles::{ProfileObject, author_of, authors_of_page};

/// What `comments` costs on top of its elements: a statement of its own.
const COMMENTS_COST: usize = 100;

/// A post, with what its page fetched for it at once.
#[derive(Debug)]
pub(crate) struct PostObject {
    pub post: Post,
    pub author: Option<Profile>,
    pub favorited: Option<bool>,
}

impl PostObject {
    pub(crate) fn new(post: Post) -> Self {
        Self {
            post,
            author: None,
            favorited: None,
        }
    }
}

#[Object(name = "Post")]
impl PostObject {
    async fn id(&self) -> Uuid {
        self.post.id
    }
    async fn slug(&self) -> &str {
        self.post.slug.as_str()
    }
    async fn title(&self) -> &str {
        self.post.title.as_str()
    }
    async fn description(&self) -> Option<&str> {
        self.post.description.as_ref().map(Description::as_str)
    }
    async fn body(&self) -> &str {
        self.post.body.as_str()
    }
    async fn tags(&self) -> Vec<&str> {
        self.post.tags.iter().map(Tag::as_str).collect()
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<ProfileObject> {
        author_of(ctx, &self.post.author, self.author.as_ref()).await
    }
    async fn comment_count(&self) -> u64 {
        self.post.comment_count
    }
    async fn favorites_count(&self) -> u64 {
        self.post.favorites_count
    }
    /// Whether the caller marked this post as a favorite (false when
    /// anonymous).
    async fn favorited(&self, ctx: &Context<'_>) -> Result<bool> {
        if viewer(ctx).is_none() {
            return Ok(false);
        }
        if let Some(favorited) = self.favorited {
            return Ok(favorited);
        }
        let loader = ctx.data::<DataLoader<FavoritedLoader>>()?;
        let found = loader
            .load_one(self.post.id)
            .await
            .map_err(|err| error::shared(&err))?;
        Ok(found.unwrap_or(false))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.post.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.post.updated_at
    }
    /// The post's comments, oldest first.
    #[graphql(complexity = "COMMENTS_COST + crate::page_cost(limit, child_complexity)")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<CommentObject>> {
        let page = page::request(limit, offset)?;
        let comments = services(ctx)?
            .posts
            .list_comments(self.post.id, page)
            .await
            .map_err(error::service)?;
        let authors = authors_of_page(
            ctx,
            ctx.look_ahead().field("items").field("author"),
            comments.items.iter().map(|c| &c.author),
        )
        .await?;
        Ok(PageOf::from_page(comments, |comment| CommentObject {
            author: authors.get(&comment.author.id).cloned(),
            comment,
        }))
    }
}

#[derive(Debug)]
pub(crate) struct CommentObject {
    pub comment: Comment,
    pub author: Option<Profile>,
}

#[Object(name = "Comment")]
impl CommentObject {
    async fn id(&self) -> Uuid {
        self.comment.id
    }
    async fn post_id(&self) -> Uuid {
        self.comment.post_id
    }
    /// Its rank under the post, from 1, never reused.
    async fn number(&self) -> u64 {
        self.comment.number
    }
    async fn body(&self) -> &str {
        self.comment.body.as_str()
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<ProfileObject> {
        author_of(ctx, &self.comment.author, self.author.as_ref()).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.comment.created_at
    }
}

/// Which posts of the request the caller favorited, batched.
pub(crate) struct FavoritedLoader {
    pub posts: Arc<dyn PostService>,
    pub viewer: Option<Principal>,
}

impl Loader<Uuid> for FavoritedLoader {
    type Value = bool;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, bool>, Self::Error> {
        let Some(viewer) = self.viewer else {
            return Ok(HashMap::new());
        };
        let favorited: HashSet<Uuid> = self
            .posts
            .favorited_among(&viewer, keys.to_vec())
            .await?
            .into_iter()
            .collect();
        Ok(keys
            .iter()
            .map(|id| (*id, favorited.contains(id)))
            .collect())
    }
}

/// A page of posts with its authors and the caller's favorites fetched
/// once for the whole page, if selected.
async fn page_of_posts(ctx: &Context<'_>, posts: Page<Post>) -> Result<PageOf<PostObject>> {
    let items = ctx.look_ahead().field("items");
    let ids: Vec<Uuid> = posts.items.iter().map(|p| p.id).collect();
    let authors = authors_of_page(
        ctx,
        items.field("author"),
        posts.items.iter().map(|p| &p.author),
    )
    .await?;
    let favorited: Option<HashSet<Uuid>> = match viewer(ctx) {
        Some(caller) if items.field("favorited").exists() && !ids.is_empty() => Some(
            services(ctx)?
                .posts
                .favorited_among(&caller, ids)
                .await
                .map_err(error::service)?
                .into_iter()
                .collect(),
        ),
        _ => None,
    };
    Ok(PageOf::from_page(posts, |post| PostObject {
        author: authors.get(&post.author.id).cloned(),
        favorited: favorited.as_ref().map(|set| set.contains(&post.id)),
        post,
    }))
}

#[derive(Debug, Default)]
pub struct PostsQuery;

#[Object]
impl PostsQuery {
    /// Posts, newest first unless `sort` says otherwise. Public.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        q: Option<String>,
        author: Option<String>,
        tag: Option<String>,
        favorited: Option<String>,
        sort: Option<String>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<PostObject>> {
        let page = page::request(limit, offset)?;
        let mut errors = ValidationErrors::default();
        let filter = PostFilter {
            author: errors
                .check("author", text_filter(author.as_deref()))
                .flatten(),
            q: errors.check("q", text_filter(q.as_deref())).flatten(),
            tag: errors
                .check("tag", posts::tag_filter(tag.as_deref()))
                .flatten(),
            favorited_by: errors
                .check("favorited", text_filter(favorited.as_deref()))
                .flatten(),
            followed_by: None,
        };
        let sort = match sort.as_deref() {
            None => Sort::default(),
            Some(raw) => errors
                .check("sort", Sort::<PostSortField>::parse(raw))
                .unwrap_or_default(),
        };
        errors.into_result().map_err(error::validation)?;
        let posts = services(ctx)?
            .posts
            .list(filter, sort, page)
            .await
            .map_err(error::service)?;
        page_of_posts(ctx, posts).await
    }

    /// Posts by the authors the caller follows, newest first.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    async fn feed(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<PostObject>> {
        let caller = caller(ctx)?;
        let page = page::request(limit, offset)?;
        let posts = services(ctx)?
            .posts
            .feed(&caller, page)
            .await
            .map_err(error::service)?;
        page_of_posts(ctx, posts).await
    }

    /// One post by `id` or by `slug` (exactly one of them); `null` when
    /// there is none.
    async fn post(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        slug: Option<String>,
    ) -> Result<Option<PostObject>> {
        let posts = &services(ctx)?.posts;
        let found = match (id, slug) {
            (Some(id), None) => posts.get(id).await,
            (None, Some(slug)) => match Slug::parse(&slug) {
                Ok(slug) => posts.get_by_slug(&slug).await,
                Err(_) => return Ok(None),
            },
            _ => return Err(error::one_of("id", "slug")),
        };
        match found {
            Ok(post) => Ok(Some(PostObject::new(post))),
            Err(ServiceError::NotFound) => Ok(None),
            Err(err) => Err(error::service(err)),
        }
    }

    /// The most used tags, most used first (at most 100).
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let tags = services(ctx)?.posts.tags().await.map_err(error::service)?;
        Ok(tags.iter().map(|tag| tag.as_str().to_owned()).collect())
    }
}

#[derive(Debug, InputObject)]
struct CreatePostInput {
    title: String,
    description: Option<String>,
    body: String,
    tags: Option<Vec<String>>,
}

/// Absent fields stay; a `null` description removes it; `tags` replaces
/// the whole list.
#[derive(Debug, InputObject)]
struct UpdatePostInput {
    title: Option<String>,
    description: MaybeUndefined<String>,
    body: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Debug, Default)]
pub struct PostsMutation;

#[Object]
impl PostsMutation {
    async fn create_post(&self, ctx: &Context<'_>, input: CreatePostInput) -> Result<PostObject> {
        let caller = writer(ctx).await?;
        let draft = PostDraft::parse(
            &input.title,
            input.description.as_deref(),
            &input.body,
            input.tags.as_deref().unwrap_or_default(),
        )
        .map_err(error::validation)?;
        services(ctx)?
            .posts
            .create(&caller, draft, None)
            .await
            .map(PostObject::new)
            .map_err(error::service)
    }

    async fn update_post(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdatePostInput,
    ) -> Result<PostObject> {
        let caller = writer(ctx).await?;
        let changes = PostChanges::parse(
            input.title.as_deref(),
            input.description.as_opt_deref(),
            input.body.as_deref(),
            input.tags.as_deref(),
        )
        .map_err(error::validation)?;
        services(ctx)?
            .posts
            .update(&caller, id, changes)
            .await
            .map(PostObject::new)
            .map_err(error::service)
    }

    async fn delete_post(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        let caller = writer(ctx).await?;
        services(ctx)?
            .posts
            .delete(&caller, id)
            .await
            .map_err(error::service)?;
        Ok(true)
    }

    async fn favorite_post(&self, ctx: &Context<'_>, id: Uuid) -> Result<PostObject> {
        let caller = writer(ctx).await?;
        let post = services(ctx)?
            .posts
            .favorite(&caller, id)
            .await
            .map_err(error::service)?;
        Ok(PostObject::new(post))
    }

    async fn unfavorite_post(&self, ctx: &Context<'_>, id: Uuid) -> Result<PostObject> {
        let caller = writer(ctx).await?;
        let post = services(ctx)?
            .posts
            .unfavorite(&caller, id)
            .await
            .map_err(error::service)?;
        Ok(PostObject::new(post))
    }

    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        post_id: Uuid,
        body: String,
    ) -> Result<CommentObject> {
        let caller = writer(ctx).await?;
        let body = Body::parse(&body, Body::COMMENT_MAX)
            .map_err(|v| error::validation(ValidationErrors::single("body", v)))?;
        services(ctx)?
            .posts
            .add_comment(&caller, post_id, body, None)
            .await
            .map(|comment| CommentObject {
                comment,
                author: None,
            })
            .map_err(error::service)
    }

    async fn delete_comment(
        &self,
        ctx: &Context<'_>,
        post_id: Uuid,
        comment_id: Uuid,
    ) -> Result<bool> {
        let caller = writer(ctx).await?;
        services(ctx)?
            .posts
            .delete_comment(&caller, post_id, comment_id)
            .await
            .map_err(error::service)?;
        Ok(true)
    }
}
