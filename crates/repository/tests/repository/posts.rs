use chrono::Duration;
use strata_domain::items::Title;
use strata_domain::page::{Direction, Sort, search_text};
use strata_domain::posts::{
    Body, Comment, NewComment, NewPost, Post, PostChanges, PostFilter, PostRepository,
    PostSortField,
};
use strata_domain::users::{User, UserRepository};
use strata_repository::{SeaPostRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{
    count, counting_statements, create_user, is_not_found, now, page, take, test_databases,
};

fn new_post(author_id: Uuid, title: &str, body: &str) -> NewPost {
    NewPost {
        id: Uuid::now_v7(),
        title: Title::parse(title).unwrap(),
        body: Body::parse(body, Body::POST_MAX).unwrap(),
        slug: strata_domain::posts::Slug::parse(&Uuid::now_v7().simple().to_string()).unwrap(),
        description: None,
        tags: Vec::new(),
        author_id,
        created_at: now(),
    }
}

fn new_comment(post_id: Uuid, author_id: Uuid, body: &str) -> NewComment {
    NewComment {
        id: Uuid::now_v7(),
        post_id,
        body: Body::parse(body, Body::COMMENT_MAX).unwrap(),
        author_id,
        created_at: now(),
    }
}

async fn create_post(repo: &SeaPostRepository, author_id: Uuid, title: &str) -> Post {
    repo.create(new_post(author_id, title, "Body"))
        .await
        .unwrap()
}

async fn add_comment(
    repo: &SeaPostRepository,
    post_id: Uuid,
    author_id: Uuid,
    body: &str,
) -> Comment {
    repo.add_comment(new_comment(post_id, author_id, body))
        .await
        .unwrap()
}

fn by_title(direction: Direction) -> Sort<PostSortField> {
    Sort {
        field: PostSortField::Title,
        direction,
    }
}

fn titles(posts: &[Post]) -> Vec<&str> {
    posts.iter().map(|p| p.title.as_str()).collect()
}

fn bodies(comments: &[Comment]) -> Vec<&str> {
    comments.iter().map(|c| c.body.as_str()).collect()
}

#[tokio::test]
async fn a_created_post_is_found_with_its_author_and_no_comments() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "Ann_W").await;
        let input = new_post(ann.id, "Hello", "First post");

        let created = repo.create(input.clone()).await.unwrap();
        assert_eq!(created.id, input.id);
        assert_eq!(created.title.as_str(), "Hello");
        assert_eq!(created.body.as_str(), "First post");
        assert_eq!(created.author.id, ann.id);
        assert_eq!(created.author.username, "Ann_W");
        assert_eq!(created.comment_count, 0);
        assert_eq!(created.created_at, input.created_at);
        assert_eq!(created.updated_at, input.created_at);
        assert_eq!(
            repo.find(input.id).await.unwrap(),
            created,
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn creating_a_post_for_a_missing_author_or_finding_a_missing_post_is_not_found() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let result = repo.create(new_post(Uuid::now_v7(), "Hello", "Body")).await;
        assert!(is_not_found(result), "{}", db.backend);
        assert!(is_not_found(repo.find(Uuid::now_v7()).await));
        assert_eq!(count(&db.conn, "posts", "1 = 1").await, 0);
    }
}

#[tokio::test]
async fn added_comments_carry_their_author_and_raise_the_comment_count() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "Bob").await;
        let post = create_post(&repo, ann.id, "Hello").await;
        let other = create_post(&repo, ann.id, "Other").await;

        let input = new_comment(post.id, bob.id, "Nice post");
        let comment = repo.add_comment(input.clone()).await.unwrap();
        assert_eq!(comment.id, input.id);
        assert_eq!(comment.post_id, post.id);
        assert_eq!(comment.body.as_str(), "Nice post");
        assert_eq!(comment.author.id, bob.id);
        assert_eq!(comment.author.username, "Bob");
        assert_eq!(comment.created_at, input.created_at);
        add_comment(&repo, post.id, ann.id, "Thanks").await;

        assert_eq!(
            repo.find(post.id).await.unwrap().comment_count,
            2,
            "{}",
            db.backend
        );
        assert_eq!(repo.find(other.id).await.unwrap().comment_count, 0);
        assert_eq!(
            repo.find_comment(post.id, comment.id).await.unwrap(),
            comment
        );
    }
}

#[tokio::test]
async fn adding_a_comment_to_a_missing_post_or_as_a_missing_author_is_not_found() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let post = create_post(&repo, ann.id, "Hello").await;

        let result = repo
            .add_comment(new_comment(Uuid::now_v7(), ann.id, "Lost"))
            .await;
        assert!(is_not_found(result), "{}", db.backend);
        let result = repo
            .add_comment(new_comment(post.id, Uuid::now_v7(), "Ghost"))
            .await;
        assert!(is_not_found(result), "{}", db.backend);
        assert_eq!(count(&db.conn, "comments", "1 = 1").await, 0);
    }
}

#[tokio::test]
async fn list_filters_by_author_in_any_case_and_by_q_over_title_and_body() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "Ann_W").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        repo.create(new_post(ann.id, "Rust tips", "Borrowing"))
            .await
            .unwrap();
        repo.create(new_post(ann.id, "Gardening", "Tomatoes and RUST on tools"))
            .await
            .unwrap();
        repo.create(new_post(ann.id, "Cooking", "Pasta"))
            .await
            .unwrap();
        repo.create(new_post(bob.id, "Rusty nails", "Hardware"))
            .await
            .unwrap();
        let sort = by_title(Direction::Asc);
        let filter = |author: Option<&str>, q: &str| PostFilter {
            author: author.map(str::to_owned),
            q: search_text(Some(q)),
            ..PostFilter::default()
        };

        for author in ["Ann_W", "ann_w", "ANN_W"] {
            let anns = repo
                .list(filter(Some(author), ""), sort, page(20, 0))
                .await
                .unwrap();
            assert_eq!(
                titles(&anns.items),
                ["Cooking", "Gardening", "Rust tips"],
                "{}: author {author}",
                db.backend
            );
            assert_eq!(anns.total, 3);
            assert!(anns.items.iter().all(|p| p.author.username == "Ann_W"));
        }

        let rust = repo
            .list(filter(None, "rUsT"), sort, page(20, 0))
            .await
            .unwrap();
        assert_eq!(
            titles(&rust.items),
            ["Gardening", "Rust tips", "Rusty nails"],
            "{}",
            db.backend
        );
        assert_eq!(rust.total, 3);

        let anns_rust = repo
            .list(filter(Some("ann_w"), "rust"), sort, page(20, 0))
            .await
            .unwrap();
        assert_eq!(titles(&anns_rust.items), ["Gardening", "Rust tips"]);

        let nobody = repo
            .list(filter(Some("nobody"), ""), sort, page(20, 0))
            .await
            .unwrap();
        assert!(nobody.items.is_empty());
        assert_eq!(nobody.total, 0);

        let literal = repo
            .list(filter(None, "_"), sort, page(20, 0))
            .await
            .unwrap();
        assert!(literal.items.is_empty(), "{}: '_' is literal", db.backend);
    }
}

#[tokio::test]
async fn list_sorts_both_ways_and_pages_with_authors_and_comment_counts() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        for (title, author, comments) in [
            ("Charlie", &ann, 0),
            ("Alpha", &bob, 2),
            ("Delta", &ann, 1),
            ("Bravo", &bob, 3),
        ] {
            let post = repo
                .create(new_post(author.id, title, "Body"))
                .await
                .unwrap();
            for i in 0..comments {
                repo.add_comment(new_comment(post.id, ann.id, &format!("c{i}")))
                    .await
                    .unwrap();
            }
        }

        let first = repo
            .list(PostFilter::default(), by_title(Direction::Asc), page(2, 0))
            .await
            .unwrap();
        assert_eq!(titles(&first.items), ["Alpha", "Bravo"], "{}", db.backend);
        assert_eq!((first.total, first.limit, first.offset), (4, 2, 0));
        let shape: Vec<(&str, u64)> = first
            .items
            .iter()
            .map(|p| (p.author.username.as_str(), p.comment_count))
            .collect();
        assert_eq!(shape, [("bob", 2), ("bob", 3)]);

        let second = repo
            .list(PostFilter::default(), by_title(Direction::Asc), page(2, 2))
            .await
            .unwrap();
        assert_eq!(titles(&second.items), ["Charlie", "Delta"]);
        let counts: Vec<u64> = second.items.iter().map(|p| p.comment_count).collect();
        assert_eq!(counts, [0, 1]);

        let desc = repo
            .list(
                PostFilter::default(),
                by_title(Direction::Desc),
                page(20, 0),
            )
            .await
            .unwrap();
        assert_eq!(titles(&desc.items), ["Delta", "Charlie", "Bravo", "Alpha"]);

        // The default sort is newest first.
        let newest = repo
            .list(PostFilter::default(), Sort::default(), page(1, 0))
            .await
            .unwrap();
        assert_eq!(titles(&newest.items), ["Bravo"], "{}", db.backend);
    }
}

#[tokio::test]
async fn listing_a_page_of_1_or_of_20_posts_with_comments_issues_the_same_number_of_statements() {
    for db in test_databases().await {
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        let setup = SeaPostRepository::new(db.conn.clone());
        for i in 0..20 {
            let author = if i % 2 == 0 { &ann } else { &bob };
            let post = setup
                .create(new_post(author.id, &format!("Post {i:02}"), "Body"))
                .await
                .unwrap();
            for j in 0..=(i % 3) {
                setup
                    .add_comment(new_comment(post.id, ann.id, &format!("c{j}")))
                    .await
                    .unwrap();
            }
        }
        let (counted, statements) = counting_statements(&db.conn);
        let sort = by_title(Direction::Asc);

        // A repository each, so that neither reuses the other's total.
        let one = SeaPostRepository::new(counted.clone())
            .list(PostFilter::default(), sort, page(1, 0))
            .await
            .unwrap();
        let for_one = take(&statements);
        let repo = SeaPostRepository::new(counted);
        let twenty = repo
            .list(PostFilter::default(), sort, page(20, 0))
            .await
            .unwrap();
        let for_twenty = take(&statements);

        assert_eq!(one.items.len(), 1);
        assert_eq!(twenty.items.len(), 20);
        assert_eq!(for_one, for_twenty, "{}", db.backend);
        // One SELECT for the page (authors and counts included), one COUNT.
        assert_eq!(for_twenty, 2, "{}", db.backend);
        // On SQLite the total is reused until the next write (counts.rs).
        let again = repo
            .list(PostFilter::default(), sort, page(20, 0))
            .await
            .unwrap();
        assert_eq!(again.total, twenty.total);
        let expected = if db.backend == "sqlite" { 1 } else { 2 };
        assert_eq!(take(&statements), expected, "{}", db.backend);
        for (i, post) in twenty.items.iter().enumerate() {
            assert_eq!(
                post.comment_count,
                (i % 3) as u64 + 1,
                "{}",
                post.title.as_str()
            );
            let expected = if i % 2 == 0 { "ann" } else { "bob" };
            assert_eq!(post.author.username, expected);
        }
    }
}

#[tokio::test]
async fn update_changes_title_and_body_and_keeps_author_and_comment_count() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let post = create_post(&repo, ann.id, "Draft").await;
        add_comment(&repo, post.id, ann.id, "note").await;
        let later = post.created_at + Duration::seconds(7);

        let updated = repo
            .update(
                post.id,
                PostChanges {
                    title: Some(Title::parse("Final").unwrap()),
                    body: Some(Body::parse("New body", Body::POST_MAX).unwrap()),
                    ..PostChanges::default()
                },
                later,
            )
            .await
            .unwrap();
        assert_eq!(updated.title.as_str(), "Final");
        assert_eq!(updated.body.as_str(), "New body");
        assert_eq!(updated.author, post.author);
        assert_eq!(updated.comment_count, 1);
        assert_eq!(updated.created_at, post.created_at);
        assert_eq!(updated.updated_at, later);
        assert_eq!(repo.find(post.id).await.unwrap(), updated, "{}", db.backend);

        let title_only = repo
            .update(
                post.id,
                PostChanges {
                    title: Some(Title::parse("Final 2").unwrap()),
                    ..PostChanges::default()
                },
                later,
            )
            .await
            .unwrap();
        assert_eq!(title_only.body.as_str(), "New body");

        let result = repo
            .update(Uuid::now_v7(), PostChanges::default(), later)
            .await;
        assert!(is_not_found(result), "{}", db.backend);
    }
}

#[tokio::test]
async fn comments_are_listed_oldest_first_with_pagination() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        let post = create_post(&repo, ann.id, "Hello").await;
        let other = create_post(&repo, ann.id, "Other").await;
        let start = now();
        // Inserted out of order; the list follows created_at.
        for (body, seconds, author) in [
            ("third", 30, &ann),
            ("first", 10, &bob),
            ("fourth", 40, &bob),
            ("second", 20, &ann),
        ] {
            let mut comment = new_comment(post.id, author.id, body);
            comment.created_at = start + Duration::seconds(seconds);
            repo.add_comment(comment).await.unwrap();
        }
        add_comment(&repo, other.id, ann.id, "elsewhere").await;

        let first = repo.list_comments(post.id, page(3, 0)).await.unwrap();
        assert_eq!(
            bodies(&first.items),
            ["first", "second", "third"],
            "{}",
            db.backend
        );
        assert_eq!((first.total, first.limit, first.offset), (4, 3, 0));
        let authors: Vec<&str> = first
            .items
            .iter()
            .map(|c| c.author.username.as_str())
            .collect();
        assert_eq!(authors, ["bob", "ann", "ann"]);
        assert!(first.items.iter().all(|c| c.post_id == post.id));

        let rest = repo.list_comments(post.id, page(3, 3)).await.unwrap();
        assert_eq!(bodies(&rest.items), ["fourth"]);
        assert_eq!(rest.total, 4);

        let unknown = repo
            .list_comments(Uuid::now_v7(), page(3, 0))
            .await
            .unwrap();
        assert!(unknown.items.is_empty());
        assert_eq!(unknown.total, 0);
        let beyond = repo.list_comments(post.id, page(3, 9)).await.unwrap();
        assert!(beyond.items.is_empty());
        assert_eq!(beyond.total, 4, "{}", db.backend);
    }
}

#[tokio::test]
async fn finding_a_comment_under_the_wrong_post_is_not_found() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let post = create_post(&repo, ann.id, "Hello").await;
        let other = create_post(&repo, ann.id, "Other").await;
        let comment = add_comment(&repo, post.id, ann.id, "Hi").await;

        assert_eq!(
            repo.find_comment(post.id, comment.id).await.unwrap(),
            comment
        );
        assert!(
            is_not_found(repo.find_comment(other.id, comment.id).await),
            "{}",
            db.backend
        );
        assert!(is_not_found(
            repo.find_comment(post.id, Uuid::now_v7()).await
        ));
    }
}

#[tokio::test]
async fn deleting_a_comment_removes_only_it_and_a_second_delete_is_not_found() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let post = create_post(&repo, ann.id, "Hello").await;
        let doomed = add_comment(&repo, post.id, ann.id, "oops").await;
        let kept = add_comment(&repo, post.id, ann.id, "keep").await;

        repo.delete_comment(doomed.id).await.unwrap();
        assert!(is_not_found(repo.find_comment(post.id, doomed.id).await));
        assert_eq!(repo.find_comment(post.id, kept.id).await.unwrap(), kept);
        assert_eq!(
            repo.find(post.id).await.unwrap().comment_count,
            1,
            "{}",
            db.backend
        );
        assert!(
            is_not_found(repo.delete_comment(doomed.id).await),
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn deleting_a_post_deletes_its_comments() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let post = create_post(&repo, ann.id, "Hello").await;
        let other = create_post(&repo, ann.id, "Other").await;
        for body in ["a", "b"] {
            repo.add_comment(new_comment(post.id, ann.id, body))
                .await
                .unwrap();
        }
        let survivor = add_comment(&repo, other.id, ann.id, "c").await;

        repo.delete(post.id).await.unwrap();

        assert!(is_not_found(repo.find(post.id).await), "{}", db.backend);
        assert_eq!(
            count(&db.conn, "comments", "1 = 1").await,
            1,
            "{}",
            db.backend
        );
        assert_eq!(
            repo.find_comment(other.id, survivor.id).await.unwrap(),
            survivor
        );
        assert!(is_not_found(repo.delete(post.id).await));
    }
}

#[tokio::test]
async fn deleting_a_user_deletes_their_posts_their_comments_elsewhere_and_comments_on_their_posts()
{
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let users = SeaUserRepository::new(db.conn.clone());
        let ann: User = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob: User = create_user(&db.conn, "bob@example.com", "bob").await;
        let anns_post = create_post(&repo, ann.id, "Ann's").await;
        let bobs_post = create_post(&repo, bob.id, "Bob's").await;
        // Bob on Ann's post: goes with Ann's post.
        add_comment(&repo, anns_post.id, bob.id, "bob on ann").await;
        // Ann on Bob's post: goes with Ann.
        add_comment(&repo, bobs_post.id, ann.id, "ann on bob").await;
        let bobs_own = add_comment(&repo, bobs_post.id, bob.id, "bob on bob").await;

        users.delete(ann.id).await.unwrap();

        assert!(
            is_not_found(repo.find(anns_post.id).await),
            "{}",
            db.backend
        );
        assert_eq!(count(&db.conn, "posts", "1 = 1").await, 1, "{}", db.backend);
        let left = repo.list_comments(bobs_post.id, page(20, 0)).await.unwrap();
        assert_eq!(left.items, [bobs_own], "{}", db.backend);
        assert_eq!(
            count(&db.conn, "comments", "1 = 1").await,
            1,
            "{}",
            db.backend
        );
        assert_eq!(repo.find(bobs_post.id).await.unwrap().comment_count, 1);
    }
}

#[tokio::test]
async fn totals_follow_post_writes_and_account_deletion_at_once() {
    for db in test_databases().await {
        let posts = SeaPostRepository::new(db.conn.clone());
        let users = SeaUserRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        // Past the first post: the page is empty or full, so it never proves
        // the total itself, and every total is counted or reused.
        let total = async || {
            posts
                .list(PostFilter::default(), by_title(Direction::Asc), page(1, 1))
                .await
                .unwrap()
                .total
        };

        assert_eq!(total().await, 0, "{}", db.backend);
        let first = posts
            .create(new_post(ann.id, "First", "Body"))
            .await
            .unwrap();
        posts
            .create(new_post(bob.id, "Second", "Body"))
            .await
            .unwrap();
        assert_eq!(total().await, 2, "{}", db.backend);
        posts.delete(first.id).await.unwrap();
        assert_eq!(total().await, 1, "{}", db.backend);
        // Deleting the author takes the post along (ON DELETE CASCADE).
        users.delete(bob.id).await.unwrap();
        assert_eq!(total().await, 0, "{}", db.backend);
    }
}

#[tokio::test]
async fn comments_are_numbered_per_post_and_a_number_is_never_reused() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let first = create_post(&repo, ann.id, "First").await;
        let second = create_post(&repo, ann.id, "Second").await;

        let mut numbers = Vec::new();
        for body in ["a", "b", "c"] {
            numbers.push(add_comment(&repo, first.id, ann.id, body).await.number);
        }
        assert_eq!(numbers, [1, 2, 3], "{}", db.backend);
        assert_eq!(add_comment(&repo, second.id, ann.id, "x").await.number, 1);

        let third = repo.find_comment_by_number(first.id, 3).await.unwrap();
        assert_eq!(third.body.as_str(), "c");
        repo.delete_comment(third.id).await.unwrap();
        assert!(is_not_found(repo.find_comment_by_number(first.id, 3).await));
        assert_eq!(add_comment(&repo, first.id, ann.id, "d").await.number, 4);
        assert!(is_not_found(
            repo.find_comment_by_number(second.id, 2).await
        ));
        assert!(is_not_found(
            repo.find_comment_by_number(first.id, u64::MAX).await
        ));

        let listed = repo.list_comments(first.id, page(10, 0)).await.unwrap();
        let listed: Vec<u64> = listed.items.iter().map(|c| c.number).collect();
        assert_eq!(listed, [1, 2, 4], "{}", db.backend);

        let orphan = repo
            .add_comment(new_comment(Uuid::now_v7(), ann.id, "lost"))
            .await;
        assert!(is_not_found(orphan), "{}", db.backend);
    }
}
