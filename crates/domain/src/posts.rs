//! The blog: posts and their comments.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::idempotency::Completion;
use crate::items::{Title, bounded_text};
use crate::page::{After, Page, PageRequest, Sort};
use crate::validation::Violation;

/// A post or comment body: `max` characters at most, never blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    pub const POST_MAX: usize = 50_000;
    pub const COMMENT_MAX: usize = 5_000;

    /// # Errors
    /// A [`Violation`] (`length`) when blank or longer than `max`.
    pub fn parse(raw: &str, max: usize) -> Result<Self, Violation> {
        if raw.trim().is_empty() {
            return Err(Violation::new(
                "length",
                format!("must be 1 to {max} characters"),
            ));
        }
        bounded_text(raw, 1, max).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who wrote a post or comment, as shown to readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub id: Uuid,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: Uuid,
    pub title: Title,
    pub body: Body,
    pub author: Author,
    pub comment_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewPost {
    pub id: Uuid,
    pub title: Title,
    pub body: Body,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostChanges {
    pub title: Option<Title>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: Uuid,
    pub post_id: Uuid,
    pub body: Body,
    pub author: Author,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewComment {
    pub id: Uuid,
    pub post_id: Uuid,
    pub body: Body,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
}

pub type PostSortField = crate::page::TitledSortField;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PostFilter {
    /// The author's username, compared case-insensitively.
    pub author: Option<String>,
    /// Lower-cased text searched in title and body.
    pub q: Option<String>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PostRepository: Send + Sync {
    /// Inserts a post.
    ///
    /// With `once`, its attempt is completed in the same transaction (see
    /// [`crate::idempotency`]).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the author does not exist;
    /// [`RepoError::ClaimLost`] when `once`'s attempt lost its key (nothing
    /// is written).
    async fn create_keyed(
        &self,
        post: NewPost,
        once: Option<Completion<Post>>,
    ) -> Result<Post, RepoError>;

    /// [`Self::create_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::create_keyed`].
    async fn create(&self, post: NewPost) -> Result<Post, RepoError> {
        self.create_keyed(post, None).await
    }

    /// # Errors
    /// [`RepoError::NotFound`] when no post has this id.
    async fn find(&self, id: Uuid) -> Result<Post, RepoError>;

    /// A page of posts with their authors and comment counts, in a constant
    /// number of queries whatever the page size (no query per post).
    ///
    /// # Errors
    /// Only storage failures.
    async fn list(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        page: PageRequest,
    ) -> Result<Page<Post>, RepoError>;

    /// Like [`list`](Self::list), from a keyset position instead of an
    /// offset (`page`'s offset is ignored). The total still counts every
    /// post matching `filter`.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_after(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Post>, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the post is gone.
    async fn update(
        &self,
        id: Uuid,
        changes: PostChanges,
        now: DateTime<Utc>,
    ) -> Result<Post, RepoError>;

    /// Deletes the post and (by cascade) its comments.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the post is already gone.
    async fn delete(&self, id: Uuid) -> Result<(), RepoError>;

    /// Inserts a comment (and the notification it causes).
    ///
    /// With `once`, its attempt is completed in the same transaction (see
    /// [`crate::idempotency`]).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the post (or author) does not exist;
    /// [`RepoError::ClaimLost`] when `once`'s attempt lost its key (nothing
    /// is written).
    async fn add_comment_keyed(
        &self,
        comment: NewComment,
        once: Option<Completion<Comment>>,
    ) -> Result<Comment, RepoError>;

    /// [`Self::add_comment_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::add_comment_keyed`].
    async fn add_comment(&self, comment: NewComment) -> Result<Comment, RepoError> {
        self.add_comment_keyed(comment, None).await
    }

    /// A page of the post's comments, oldest first.
    ///
    /// # Errors
    /// Only storage failures (an unknown post yields an empty page).
    async fn list_comments(
        &self,
        post_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Comment>, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the comment does not exist under this post.
    async fn find_comment(&self, post_id: Uuid, comment_id: Uuid) -> Result<Comment, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the comment is already gone.
    async fn delete_comment(&self, comment_id: Uuid) -> Result<(), RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_never_blank_and_bounded_by_their_kind() {
        assert!(Body::parse("  ", Body::POST_MAX).is_err());
        assert!(Body::parse(&"x".repeat(5_000), Body::COMMENT_MAX).is_ok());
        assert!(Body::parse(&"x".repeat(5_001), Body::COMMENT_MAX).is_err());
        assert!(Body::parse(&"x".repeat(50_000), Body::POST_MAX).is_ok());
    }
}
