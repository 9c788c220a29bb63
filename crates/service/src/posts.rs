//! The blog: public reads, author-or-admin writes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::auth::Principal;
use strata_domain::idempotency::Completion;
use strata_domain::items::Title;
use strata_domain::page::{After, Page, PageRequest, Sort};
use strata_domain::posts::{
    Body, Comment, NewComment, NewPost, Post, PostChanges, PostFilter, PostRepository,
    PostSortField,
};
use uuid::Uuid;

use crate::ServiceError;

/// Blog use cases. Posts are public, so a non-author's write is forbidden
/// (403) rather than hidden.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PostService: Send + Sync {
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
        title: Title,
        body: Body,
        once: Option<Completion<Post>>,
    ) -> Result<Post, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`].
    async fn get(&self, id: Uuid) -> Result<Post, ServiceError>;

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
        Ok(self.posts.list(filter, sort, page).await?)
    }

    async fn list_after(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Post>, ServiceError> {
        Ok(self.posts.list_after(filter, sort, after, page).await?)
    }

    async fn create(
        &self,
        caller: &Principal,
        title: Title,
        body: Body,
        once: Option<Completion<Post>>,
    ) -> Result<Post, ServiceError> {
        let post = NewPost {
            id: Uuid::now_v7(),
            title,
            body,
            author_id: caller.user_id,
            created_at: Utc::now(),
        };
        Ok(self.posts.create_keyed(post, once).await?)
    }

    async fn get(&self, id: Uuid) -> Result<Post, ServiceError> {
        Ok(self.posts.find(id).await?)
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
mod tests {
    use super::*;
    use crate::test_support::caller;
    use strata_domain::RepoError;
    use strata_domain::posts::{Author, MockPostRepository};
    use strata_domain::users::Role;

    fn post(author: Uuid) -> Post {
        let now = Utc::now();
        Post {
            id: Uuid::now_v7(),
            title: Title::parse("Hello").unwrap(),
            body: Body::parse("World", Body::POST_MAX).unwrap(),
            author: Author {
                id: author,
                username: "ada".into(),
            },
            comment_count: 0,
            created_at: now,
            updated_at: now,
        }
    }

    fn comment(post_id: Uuid, author: Uuid) -> Comment {
        Comment {
            id: Uuid::now_v7(),
            post_id,
            body: Body::parse("Nice", Body::COMMENT_MAX).unwrap(),
            author: Author {
                id: author,
                username: "bob".into(),
            },
            created_at: Utc::now(),
        }
    }

    fn changes() -> PostChanges {
        PostChanges {
            title: Some(Title::parse("Edited").unwrap()),
            body: None,
        }
    }

    #[tokio::test]
    async fn only_the_author_or_an_admin_may_edit_or_delete_a_post() {
        let author = caller(Role::User);
        let stranger = caller(Role::User);
        let admin = caller(Role::Admin);
        let p = post(author.user_id);
        let id = p.id;
        let mut repo = MockPostRepository::new();
        repo.expect_find().returning(move |_| Ok(p.clone()));
        repo.expect_update()
            .times(2)
            .returning(move |_, _, _| Ok(post(Uuid::now_v7())));
        repo.expect_delete().times(1).returning(|_| Ok(()));
        let s = PostServiceImpl::new(Arc::new(repo));
        assert!(matches!(
            s.update(&stranger, id, changes()).await,
            Err(ServiceError::Forbidden)
        ));
        assert!(matches!(
            s.delete(&stranger, id).await,
            Err(ServiceError::Forbidden)
        ));
        s.update(&author, id, changes()).await.unwrap();
        s.update(&admin, id, changes()).await.unwrap();
        s.delete(&admin, id).await.unwrap();
    }

    #[tokio::test]
    async fn a_comment_may_be_deleted_by_its_author_the_posts_author_or_an_admin() {
        let post_author = caller(Role::User);
        let commenter = caller(Role::User);
        let stranger = caller(Role::User);
        let admin = caller(Role::Admin);
        let p = post(post_author.user_id);
        let c = comment(p.id, commenter.user_id);
        let (post_id, comment_id) = (p.id, c.id);
        let mut repo = MockPostRepository::new();
        repo.expect_find().returning(move |_| Ok(p.clone()));
        repo.expect_find_comment()
            .returning(move |_, _| Ok(c.clone()));
        repo.expect_delete_comment().times(3).returning(|_| Ok(()));
        let s = PostServiceImpl::new(Arc::new(repo));
        assert!(matches!(
            s.delete_comment(&stranger, post_id, comment_id).await,
            Err(ServiceError::Forbidden)
        ));
        for who in [&commenter, &post_author, &admin] {
            s.delete_comment(who, post_id, comment_id).await.unwrap();
        }
    }

    #[tokio::test]
    async fn comments_of_a_missing_post_are_not_found() {
        let mut repo = MockPostRepository::new();
        repo.expect_find().returning(|_| Err(RepoError::NotFound));
        repo.expect_list_comments().never();
        let s = PostServiceImpl::new(Arc::new(repo));
        assert!(matches!(
            s.list_comments(Uuid::now_v7(), PageRequest::default())
                .await,
            Err(ServiceError::NotFound)
        ));
    }
}
