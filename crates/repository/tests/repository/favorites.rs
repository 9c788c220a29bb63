//! Slugs, descriptions, tags, favorites and the feed on every backend.

use strata_domain::items::Title;
use strata_domain::page::Sort;
use strata_domain::posts::{
    Body, Description, NewPost, Post, PostChanges, PostFilter, PostRepository, Slug, Tag,
    parse_tags,
};
use strata_domain::profiles::ProfileRepository;
use strata_domain::users::UserRepository;
use strata_repository::{SeaPostRepository, SeaProfileRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{
    count, counting_statements, create_user, is_not_found, now, page, take, test_databases,
};

async fn publish(repo: &SeaPostRepository, author_id: Uuid, title: &str, tags: &[&str]) -> Post {
    let id = Uuid::now_v7();
    let title = Title::parse(title).unwrap();
    repo.create(NewPost {
        id,
        slug: Slug::for_title(&title, id),
        title,
        description: Some(Description::parse("About it").unwrap()),
        body: Body::parse("Body", Body::POST_MAX).unwrap(),
        tags: parse_tags(tags).unwrap(),
        author_id,
        created_at: now(),
    })
    .await
    .unwrap()
}

fn names(tags: &[Tag]) -> Vec<&str> {
    tags.iter().map(Tag::as_str).collect()
}

fn titles(posts: &[Post]) -> Vec<&str> {
    posts.iter().map(|p| p.title.as_str()).collect()
}

#[tokio::test]
async fn a_post_keeps_its_slug_description_and_tags_in_order() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let post = publish(&repo, ann.id, "Hello World", &["rust", "web"]).await;
        let twin = publish(&repo, ann.id, "Hello World", &[]).await;

        assert!(
            post.slug.as_str().starts_with("hello-world-"),
            "{:?}",
            post.slug
        );
        assert_ne!(post.slug, twin.slug);
        assert_eq!(names(&post.tags), ["rust", "web"], "{}", db.backend);
        assert_eq!(
            post.description.as_ref().map(Description::as_str),
            Some("About it")
        );
        assert_eq!(repo.find_by_slug(&post.slug).await.unwrap(), post);
        assert!(is_not_found(
            repo.find_by_slug(&Slug::parse("missing").unwrap()).await
        ));

        // Tags replaced as a whole; the title changes, the slug does not.
        let updated = repo
            .update(
                post.id,
                PostChanges {
                    title: Some(Title::parse("Renamed").unwrap()),
                    description: Some(None),
                    tags: Some(parse_tags(&["web", "db"]).unwrap()),
                    ..PostChanges::default()
                },
                now(),
            )
            .await
            .unwrap();
        assert_eq!(updated.slug, post.slug);
        assert_eq!(updated.description, None);
        assert_eq!(names(&updated.tags), ["web", "db"], "{}", db.backend);
        assert_eq!(count(&db.conn, "post_tags", "1 = 1").await, 2);

        let cleared = repo
            .update(
                post.id,
                PostChanges {
                    tags: Some(Vec::new()),
                    ..PostChanges::default()
                },
                now(),
            )
            .await
            .unwrap();
        assert!(cleared.tags.is_empty());
        assert_eq!(count(&db.conn, "post_tags", "1 = 1").await, 0);
    }
}

#[tokio::test]
async fn the_tag_list_counts_uses_and_the_tag_filter_finds_only_tagged_posts() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        publish(&repo, ann.id, "One", &["b", "a"]).await;
        publish(&repo, ann.id, "Two", &["a"]).await;
        let three = publish(&repo, ann.id, "Three", &["c"]).await;

        assert_eq!(names(&repo.tags(10).await.unwrap()), ["a", "b", "c"]);
        assert_eq!(names(&repo.tags(1).await.unwrap()), ["a"]);

        let tagged = repo
            .list(
                PostFilter {
                    tag: Some("a".into()),
                    ..PostFilter::default()
                },
                Sort::default(),
                page(10, 0),
            )
            .await
            .unwrap();
        assert_eq!(titles(&tagged.items), ["Two", "One"], "{}", db.backend);
        assert_eq!(tagged.total, 2);

        // A deleted post's tags leave the list with it.
        repo.delete(three.id).await.unwrap();
        assert_eq!(names(&repo.tags(10).await.unwrap()), ["a", "b"]);
    }
}

#[tokio::test]
async fn favorites_count_once_per_user_and_filter_lists_by_who_marked_them() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "Bob").await;
        let one = publish(&repo, ann.id, "One", &[]).await;
        let two = publish(&repo, ann.id, "Two", &[]).await;

        assert_eq!(
            repo.favorite(bob.id, one.id).await.unwrap().favorites_count,
            1
        );
        assert_eq!(
            repo.favorite(bob.id, one.id).await.unwrap().favorites_count,
            1
        );
        assert_eq!(
            repo.favorite(ann.id, one.id).await.unwrap().favorites_count,
            2
        );
        assert!(is_not_found(repo.favorite(bob.id, Uuid::now_v7()).await));

        let marked = repo
            .favorited_among(bob.id, vec![one.id, two.id])
            .await
            .unwrap();
        assert_eq!(marked, [one.id], "{}", db.backend);

        let bobs = repo
            .list(
                PostFilter {
                    favorited_by: Some("bob".into()),
                    ..PostFilter::default()
                },
                Sort::default(),
                page(10, 0),
            )
            .await
            .unwrap();
        assert_eq!(titles(&bobs.items), ["One"], "{}", db.backend);
        assert_eq!(bobs.items[0].favorites_count, 2);

        assert_eq!(
            repo.unfavorite(bob.id, one.id)
                .await
                .unwrap()
                .favorites_count,
            1
        );
        assert_eq!(
            repo.unfavorite(bob.id, one.id)
                .await
                .unwrap()
                .favorites_count,
            1
        );
        assert!(is_not_found(repo.unfavorite(bob.id, Uuid::now_v7()).await));

        // Deleting an account takes its marks with it: counts stay exact.
        SeaUserRepository::new(db.conn.clone())
            .delete(bob.id)
            .await
            .unwrap();
        repo.favorite(bob.id, two.id).await.unwrap_err();
        assert_eq!(repo.find(one.id).await.unwrap().favorites_count, 1);
    }
}

#[tokio::test]
async fn the_feed_holds_the_followed_authors_posts_newest_first_in_constant_statements() {
    for db in test_databases().await {
        let repo = SeaPostRepository::new(db.conn.clone());
        let profiles = SeaProfileRepository::new(db.conn.clone());
        let reader = create_user(&db.conn, "r@example.com", "reader").await;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        let feed = |repo: &SeaPostRepository| {
            let repo = repo.clone();
            async move {
                repo.list(
                    PostFilter {
                        followed_by: Some(reader.id),
                        ..PostFilter::default()
                    },
                    Sort::default(),
                    page(10, 0),
                )
                .await
                .unwrap()
            }
        };
        publish(&repo, ann.id, "Ann 1", &[]).await;
        publish(&repo, bob.id, "Bob 1", &[]).await;
        assert_eq!(feed(&repo).await.total, 0, "{}", db.backend);

        profiles.follow(reader.id, ann.id).await.unwrap();
        publish(&repo, ann.id, "Ann 2", &["t"]).await;
        let page_of = feed(&repo).await;
        assert_eq!(titles(&page_of.items), ["Ann 2", "Ann 1"], "{}", db.backend);
        assert_eq!(page_of.total, 2);

        // Tags, favorites and the author come in the page's statement.
        for i in 0..5 {
            publish(&repo, ann.id, &format!("More {i}"), &["x", "y"]).await;
        }
        let (counted, statements) = counting_statements(&db.conn);
        let fresh = SeaPostRepository::new(counted);
        let one = fresh
            .list(
                PostFilter {
                    followed_by: Some(reader.id),
                    ..PostFilter::default()
                },
                Sort::default(),
                page(1, 0),
            )
            .await
            .unwrap();
        let for_one = take(&statements);
        let (counted, statements) = counting_statements(&db.conn);
        let seven = SeaPostRepository::new(counted)
            .list(
                PostFilter {
                    followed_by: Some(reader.id),
                    ..PostFilter::default()
                },
                Sort::default(),
                page(7, 0),
            )
            .await
            .unwrap();
        assert_eq!(one.items.len(), 1);
        assert_eq!(seven.items.len(), 7);
        assert_eq!(take(&statements), for_one, "{}", db.backend);

        let users = SeaUserRepository::new(db.conn.clone());
        users.delete(ann.id).await.unwrap();
        assert_eq!(feed(&repo).await.total, 0, "{}", db.backend);
    }
}
