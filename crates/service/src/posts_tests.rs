//! The blog's use cases against a mocked repository.

use super::*;
use crate::test_support::caller;
use strata_domain::RepoError;
use strata_domain::posts::{Author, MockPostRepository};
use strata_domain::users::Role;

fn post(author: Uuid) -> Post {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let title = Title::parse("Hello").unwrap();
    Post {
        id,
        slug: Slug::for_title(&title, id),
        title,
        description: None,
        body: Body::parse("World", Body::POST_MAX).unwrap(),
        tags: Vec::new(),
        author: Author {
            id: author,
            username: "ada".into(),
        },
        comment_count: 0,
        favorites_count: 0,
        created_at: now,
        updated_at: now,
    }
}

fn comment(post_id: Uuid, author: Uuid) -> Comment {
    Comment {
        id: Uuid::now_v7(),
        post_id,
        number: 1,
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
        ..PostChanges::default()
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
