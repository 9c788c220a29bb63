//! The blog: public reads, author-or-admin writes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::ValidationErrors;
use strata_domain::auth::Principal;
use strata_domain::idempotency::Completion;
use strata_domain::items::Title;
use strata_domain::page::{After, Page, PageRequest, Sort};
use strata_domain::posts::{
    self, Body, Comment, Description, NewComment, NewPost, Post, PostChanges, PostFilter,
    PostRepository, PostSortField, Slug, Tag, Tags,
};
use uuid::Uuid;

use crate::ServiceError;

/// How many tags [`PostService::tags`] answers at most.
pub const TAGS_LISTED: u64 = 100;

/// A new post as its author wrote it, already validated.
#[derive(Debug, Clone)]
pub struct PostDraft {
    pub title: Title,
    pub description: Option<Description>,
    pub body: Body,
    pub tags: Tags,
}

impl PostDraft {
    /// A new post as a client sends it; absent tags are none.
    ///
    /// # Errors
    /// Every bad field, named (`title`, `description`, `body`, `tags`).
    pub fn parse(
        title: &str,
        description: Option<&str>,
        body: &str,
        tags: &[String],
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = errors.check("title", Title::parse(title));
        let description = description.map_or(Some(None), |raw| {
            errors
                .check("description", Description::parse(raw))
                .map(Some)
        });
        let body = errors.check("body", Body::parse(body, Body::POST_MAX));
        let tags = errors.check("tags", posts::tag_list(tags));
        match (title, description, body, tags) {
            (Some(title), Some(description), Some(body), Some(tags)) => Ok(Self {
                title,
                description,
                body,
                tags,
            }),
            _ => Err(errors),
        }
    }
}

/// Blog use cases. Posts are public, so a non-author's write is forbidden
/// (403) rather than hidden.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PostService: Send + Sync {
    /// The filter's `followed_by` is ignored: whom a user follows is theirs
    /// to see, through [`Self::feed`].
    ///
    /// # Errors
    /// Storage failures only.
    async fn list(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        page: PageRequest,
    ) -> Result<Page<Post>, ServiceError>;

    /// Like [`list`](Self::list), from a keyset position instead of an
    /// offset.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list_after(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Post>, ServiceError>;

    /// Publishes a post by the caller.
    /// With `once`, the request's idempotency attempt completes with it.
    ///
    /// # Errors
    /// Storage failures; [`ServiceError::IdempotencyInProgress`] when `once`
    /// lost its key.
    async fn create(
        &self,
        caller: &Principal,
        draft: PostDraft,
        once: Option<Completion<Post>>,
    ) -> Result<Post, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`].
    async fn get(&self, id: Uuid) -> Result<Post, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`].
    async fn get_by_slug(&self, slug: &Slug) -> Result<Post, ServiceError>;

    /// Posts by the authors the caller follows, newest first.
    ///
    /// # Errors
    /// Storage failures only.
    async fn feed(&self, caller: &Principal, page: PageRequest)
    -> Result<Page<Post>, ServiceError>;

    /// Marks the post as one of the caller's favorites (again: no change).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the post does not exist.
    async fn favorite(&self, caller: &Principal, id: Uuid) -> Result<Post, ServiceError>;

    /// Removes the caller's mark (absent: no change).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the post does not exist.
    async fn unfavorite(&self, caller: &Principal, id: Uuid) -> Result<Post, ServiceError>;

    /// Which of `ids` the caller marked as favorites (one query for a page).
    ///
    /// # Errors
    /// Storage failures only.
    async fn favorited_among(
        &self,
        caller: &Principal,
        ids: Vec<Uuid>,
    ) -> Result<Vec<Uuid>, ServiceError>;

    /// The tags in use, most used first, at most [`TAGS_LISTED`].
    ///
    /// # Errors
    /// Storage failures only.
    async fn tags(&self) -> Result<Vec<Tag>, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`]; [`ServiceError::Forbidden`] unless the
    /// caller wrote the post or is an admin.
    async fn update(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: PostChanges,
    ) -> Result<Post, ServiceError>;

    /// Deletes the post and its comments.
    ///
    /// # Errors
    /// As [`PostService::update`].
    async fn delete(&self, caller: &Principal, id: Uuid) -> Result<(), ServiceError>;

    /// Oldest first.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the post does not exist.
    async fn list_comments(
        &self,
        post_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Comment>, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`] when the comment is not under this post.
    async fn get_comment(&self, post_id: Uuid, comment_id: Uuid) -> Result<Comment, ServiceError>;

    /// The post's comment with this [`Comment::number`].
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the post has no such comment.
    async fn get_comment_by_number(
        &self,
        post_id: Uuid,
        number: u64,
    ) -> Result<Comment, ServiceError>;

    /// Comments on a post as the caller.
    /// With `once`, the request's idempotency attempt completes with it.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the post does not exist;
    /// [`ServiceError::IdempotencyInProgress`] when `once` lost its key.
    async fn add_comment(
        &self,
        caller: &Principal,
        post_id: Uuid,
        body: Body,
        once: Option<Completion<Comment>>,
    ) -> Result<Comment, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`] when the comment is not under this post;
    /// [`ServiceError::Forbidden`] unless the caller wrote the comment or the
    /// post, or is an admin.
    async fn delete_comment(
        &self,
        caller: &Principal,
        post_id: Uuid,
        comment_id: Uuid,
    ) -> Result<(), ServiceError>;
}

pub struct PostServiceImpl {
    posts: Arc<dyn PostRepository>,
}

impl std::fmt::Debug for PostServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostServiceImpl").finish_non_exhaustive()
    }
}

impl PostServiceImpl {
    pub fn new(posts: Arc<dyn PostRepository>) -> Self {
        Self { posts }
    }

    async fn writable(&self, caller: &Principal, id: Uuid) -> Result<Post, ServiceError> {
        let post = self.posts.find(id).await?;
        if post.author.id == caller.user_id || caller.is_admin() {
            Ok(post)
        } else {
            Err(ServiceError::Forbidden)
        }
    }
}

#[async_trait]
impl PostService for PostServiceImpl {
    async fn list(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        page: PageRequest,
    ) -> Result<Page<Post>, ServiceError> {
        let filter = PostFilter {
            followed_by: None,
            ..filter
        };
        Ok(self.posts.list(filter, sort, page).await?)
    }

    async fn list_after(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Post>, ServiceError> {
        let filter = PostFilter {
            followed_by: None,
            ..filter
        };
        Ok(self.posts.list_after(filter, sort, after, page).await?)
    }

    async fn create(
        &self,
        caller: &Principal,
        draft: PostDraft,
        once: Option<Completion<Post>>,
    ) -> Result<Post, ServiceError> {
        let id = Uuid::now_v7();
        let post = NewPost {
            id,
            slug: Slug::for_title(&draft.title, id),
            title: draft.title,
            description: draft.description,
            body: draft.body,
            tags: draft.tags,
            author_id: caller.user_id,
            created_at: Utc::now(),
        };
        Ok(self.posts.create_keyed(post, once).await?)
    }

    async fn get(&self, id: Uuid) -> Result<Post, ServiceError> {
        Ok(self.posts.find(id).await?)
    }

    async fn get_by_slug(&self, slug: &Slug) -> Result<Post, ServiceError> {
        Ok(self.posts.find_by_slug(slug).await?)
    }

    async fn feed(
        &self,
        caller: &Principal,
        page: PageRequest,
    ) -> Result<Page<Post>, ServiceError> {
        let filter = PostFilter {
            followed_by: Some(caller.user_id),
            ..PostFilter::default()
        };
        Ok(self.posts.list(filter, Sort::default(), page).await?)
    }

    async fn favorite(&self, caller: &Principal, id: Uuid) -> Result<Post, ServiceError> {
        Ok(self.posts.favorite(caller.user_id, id).await?)
    }

    async fn unfavorite(&self, caller: &Principal, id: Uuid) -> Result<Post, ServiceError> {
        Ok(self.posts.unfavorite(caller.user_id, id).await?)
    }

    async fn favorited_among(
        &self,
        caller: &Principal,
        ids: Vec<Uuid>,
    ) -> Result<Vec<Uuid>, ServiceError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.posts.favorited_among(caller.user_id, ids).await?)
    }

    async fn tags(&self) -> Result<Vec<Tag>, ServiceError> {
        Ok(self.posts.tags(TAGS_LISTED).await?)
    }

    async fn update(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: PostChanges,
    ) -> Result<Post, ServiceError> {
        let post = self.writable(caller, id).await?;
        if changes == PostChanges::default() {
            return Ok(post);
        }
        Ok(self.posts.update(id, changes, Utc::now()).await?)
    }

    async fn delete(&self, caller: &Principal, id: Uuid) -> Result<(), ServiceError> {
        self.writable(caller, id).await?;
        Ok(self.posts.delete(id).await?)
    }

    async fn list_comments(
        &self,
        post_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Comment>, ServiceError> {
        self.posts.find(post_id).await?;
        Ok(self.posts.list_comments(post_id, page).await?)
    }

    async fn get_comment(&self, post_id: Uuid, comment_id: Uuid) -> Result<Comment, ServiceError> {
        Ok(self.posts.find_comment(post_id, comment_id).await?)
    }

    async fn get_comment_by_number(
        &self,
        post_id: Uuid,
        number: u64,
    ) -> Result<Comment, ServiceError> {
        Ok(self.posts.find_comment_by_number(post_id, number).await?)
    }

    async fn add_comment(
        &self,
        caller: &Principal,
        post_id: Uuid,
        body: Body,
        once: Option<Completion<Comment>>,
    ) -> Result<Comment, ServiceError> {
        let comment = NewComment {
            id: Uuid::now_v7(),
            post_id,
            body,
            author_id: caller.user_id,
            created_at: Utc::now(),
        };
        Ok(self.posts.add_comment_keyed(comment, once).await?)
    }

    async fn delete_comment(
        &self,
        caller: &Principal,
        post_id: Uuid,
        comment_id: Uuid,
    ) -> Result<(), ServiceError> {
        let comment = self.posts.find_comment(post_id, comment_id).await?;
        let allowed = caller.is_admin()
            || comment.author.id == caller.user_id
            || self.posts.find(post_id).await?.author.id == caller.user_id;
        if !allowed {
            return Err(ServiceError::Forbidden);
        }
        Ok(self.posts.delete_comment(comment_id).await?)
    }
}

#[cfg(test)]
#[path = "posts_tests.rs"]
mod tests;
