//! Notifications: written with the changes that cause them (a comment, a
//! job's end, a role change), listed newest first, marked read.

use chrono::Duration;
use serde_json::json;
use strata_domain::jobs::{JobRepository, JobStatus, NewJob, Outcome};
use strata_domain::notifications::{
    Notification, NotificationFilter, NotificationKind, NotificationRepository,
};
use strata_domain::posts::{Body, NewComment, NewPost, PostRepository};
use strata_domain::users::{Role, UserChanges, UserRepository};
use strata_repository::{
    DatabaseConnection, SeaJobRepository, SeaNotificationRepository, SeaPostRepository,
    SeaUserRepository,
};
use uuid::Uuid;

use crate::common::{create_user, is_not_found, now, page, test_databases};
use crate::jobs::claim;

async fn all(repo: &SeaNotificationRepository, user_id: Uuid) -> Vec<Notification> {
    let filter = NotificationFilter {
        user_id,
        unread_only: false,
    };
    repo.list(filter, page(100, 0)).await.unwrap().items
}

async fn comment(db: &DatabaseConnection, post_author: Uuid, commenter: Uuid) -> (Uuid, Uuid) {
    let posts = SeaPostRepository::new(db.clone());
    let post = posts
        .create(NewPost {
            id: Uuid::now_v7(),
            title: strata_domain::items::Title::parse("A post").unwrap(),
            body: Body::parse("Body", Body::POST_MAX).unwrap(),
            slug: strata_domain::posts::Slug::parse(&Uuid::now_v7().simple().to_string()).unwrap(),
            description: None,
            tags: Vec::new(),
            author_id: post_author,
            created_at: now(),
        })
        .await
        .unwrap();
    let comment = posts
        .add_comment(NewComment {
            id: Uuid::now_v7(),
            post_id: post.id,
            body: Body::parse("Nice", Body::COMMENT_MAX).unwrap(),
            author_id: commenter,
            created_at: now(),
        })
        .await
        .unwrap();
    (post.id, comment.id)
}

#[tokio::test]
async fn a_comment_by_someone_else_notifies_the_posts_author_and_ones_own_does_not() {
    for db in test_databases().await {
        let repo = SeaNotificationRepository::new(db.conn.clone());
        let author = create_user(&db.conn, "author@example.com", "author").await;
        let reader = create_user(&db.conn, "reader@example.com", "reader").await;
        comment(&db.conn, author.id, author.id).await;
        assert!(all(&repo, author.id).await.is_empty(), "{}", db.backend);

        let (post, comment) = comment(&db.conn, author.id, reader.id).await;
        let told = all(&repo, author.id).await;
        assert_eq!(told.len(), 1, "{}", db.backend);
        assert_eq!(told[0].kind, NotificationKind::CommentCreated);
        assert_eq!(
            told[0].data,
            json!({"post_id": post, "comment_id": comment, "author": "reader"})
        );
        assert_eq!(told[0].read_at, None);
        assert!(all(&repo, reader.id).await.is_empty());
    }
}

#[tokio::test]
async fn a_role_change_notifies_its_user_and_an_unchanged_role_does_not() {
    for db in test_databases().await {
        let repo = SeaNotificationRepository::new(db.conn.clone());
        let users = SeaUserRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "user@example.com", "user").await;
        let to = |role| UserChanges {
            role: Some(role),
            ..UserChanges::default()
        };
        users.update(user.id, to(Role::User), now()).await.unwrap();
        assert!(all(&repo, user.id).await.is_empty(), "{}", db.backend);
        users.update(user.id, to(Role::Admin), now()).await.unwrap();
        let told = all(&repo, user.id).await;
        assert_eq!(told.len(), 1, "{}", db.backend);
        assert_eq!(told[0].kind, NotificationKind::RoleChanged);
        assert_eq!(told[0].data, json!({"role": "admin"}));
    }
}

#[tokio::test]
async fn a_users_job_ending_notifies_them_once_and_a_lost_lease_or_cancel_does_not() {
    for db in test_databases().await {
        let repo = SeaNotificationRepository::new(db.conn.clone());
        let jobs = SeaJobRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "user@example.com", "user").await;
        let t = now();
        let mut ids = Vec::new();
        for max_attempts in [3, 3, 1] {
            let job = NewJob::new("a", json!({}), max_attempts, t).created_by(user.id);
            ids.push(job.id);
            jobs.enqueue(job).await.unwrap();
        }
        // A scheduled job (no creator) tells nobody.
        jobs.enqueue(NewJob::new("a", json!({}), 3, t))
            .await
            .unwrap();
        assert_eq!(
            jobs.claim(claim("w1", &["a"], 10), t).await.unwrap().len(),
            4
        );

        let succeeded = Outcome::Succeeded { result: json!({}) };
        assert!(
            jobs.finish(ids[0], "w1", succeeded.clone(), t)
                .await
                .unwrap()
        );
        // Recorded by a worker that no longer holds the lease: nothing.
        assert!(!jobs.finish(ids[0], "w1", succeeded, t).await.unwrap());
        assert!(
            jobs.finish(ids[1], "w1", Outcome::Cancelled, t)
                .await
                .unwrap()
        );
        // The last attempt's worker vanished: the reaper's `dead` is told.
        let reaped = jobs.reap_expired(t + Duration::seconds(31)).await.unwrap();
        assert_eq!(reaped, 2, "{}", db.backend);

        let told = all(&repo, user.id).await;
        let mut seen: Vec<_> = told
            .iter()
            .map(|n| (n.kind, n.data["job_id"].clone(), n.data["status"].clone()))
            .collect();
        seen.sort_by_key(|(_, _, status)| status.to_string());
        assert_eq!(
            seen,
            vec![
                (NotificationKind::JobFinished, json!(ids[2]), json!("dead")),
                (
                    NotificationKind::JobFinished,
                    json!(ids[0]),
                    json!("succeeded")
                ),
            ],
            "{}",
            db.backend
        );
        assert_eq!(jobs.find(ids[2]).await.unwrap().status, JobStatus::Dead);
    }
}

#[tokio::test]
async fn lists_are_newest_first_filter_unread_and_marks_are_the_owners_alone() {
    for db in test_databases().await {
        let repo = SeaNotificationRepository::new(db.conn.clone());
        let author = create_user(&db.conn, "author@example.com", "author").await;
        let reader = create_user(&db.conn, "reader@example.com", "reader").await;
        let mut comments = Vec::new();
        for _ in 0..3 {
            comments.push(comment(&db.conn, author.id, reader.id).await.1);
        }
        let listed = all(&repo, author.id).await;
        let order: Vec<_> = listed
            .iter()
            .map(|n| n.data["comment_id"].clone())
            .collect();
        let newest_first: Vec<_> = comments.iter().rev().map(|id| json!(id)).collect();
        assert_eq!(order, newest_first, "{}", db.backend);

        // Someone else's notification does not exist for them.
        let oldest = listed[2].id;
        assert!(is_not_found(repo.mark_read(reader.id, oldest, now()).await));
        assert!(is_not_found(
            repo.mark_read(author.id, Uuid::now_v7(), now()).await
        ));

        let first_read = now();
        let read = repo.mark_read(author.id, oldest, first_read).await.unwrap();
        assert_eq!(read.read_at, Some(first_read), "{}", db.backend);
        // Read again later: the first time is kept.
        let again = repo
            .mark_read(author.id, oldest, first_read + Duration::seconds(5))
            .await
            .unwrap();
        assert_eq!(again.read_at, Some(first_read));

        let unread = NotificationFilter {
            user_id: author.id,
            unread_only: true,
        };
        let page_of_one = repo.list(unread, page(1, 0)).await.unwrap();
        assert_eq!(page_of_one.total, 2, "{}", db.backend);
        assert_eq!(page_of_one.items[0].id, listed[0].id);

        assert_eq!(repo.mark_all_read(reader.id, now()).await.unwrap(), 0);
        assert_eq!(repo.mark_all_read(author.id, now()).await.unwrap(), 2);
        assert_eq!(repo.list(unread, page(10, 0)).await.unwrap().total, 0);
        assert_eq!(repo.mark_all_read(author.id, now()).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_deleted_account_takes_its_notifications_along() {
    for db in test_databases().await {
        let repo = SeaNotificationRepository::new(db.conn.clone());
        let author = create_user(&db.conn, "author@example.com", "author").await;
        let reader = create_user(&db.conn, "reader@example.com", "reader").await;
        comment(&db.conn, author.id, reader.id).await;
        SeaUserRepository::new(db.conn.clone())
            .delete(author.id)
            .await
            .unwrap();
        assert!(all(&repo, author.id).await.is_empty(), "{}", db.backend);
    }
}
