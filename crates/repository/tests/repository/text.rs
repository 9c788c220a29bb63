//! No NUL reaches the database through any adapter: PostgreSQL's `text`
//! cannot hold or compare it (the statement fails), so every adapter that
//! takes free text treats a NUL-bearing value as matching nothing. The
//! values are passed raw, not through the HTTP layer's refusal, to prove the
//! adapters hold on their own.

use strata_domain::items::{ItemFilter, ItemRepository, NewItem, Title};
use strata_domain::page::Sort;
use strata_domain::posts::{Body, NewPost, PostFilter, PostRepository};
use strata_domain::users::{UserFilter, UserRepository};
use strata_repository::{SeaItemRepository, SeaPostRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{create_user, now, page, test_databases};

const HOSTILE: [&str; 3] = ["\0", "ann\0", "mi\0lk"];

#[tokio::test]
async fn text_with_nul_matches_nothing_and_never_fails_a_statement() {
    for db in test_databases().await {
        let backend = db.backend;
        let users = SeaUserRepository::new(db.conn.clone());
        let items = SeaItemRepository::new(db.conn.clone());
        let posts = SeaPostRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        items
            .create(NewItem {
                id: Uuid::now_v7(),
                title: Title::parse("milk").unwrap(),
                description: None,
                owner_id: ann.id,
                created_at: now(),
            })
            .await
            .unwrap();
        posts
            .create(NewPost {
                id: Uuid::now_v7(),
                title: Title::parse("milk").unwrap(),
                body: Body::parse("milk", Body::POST_MAX).unwrap(),
                slug: strata_domain::posts::Slug::parse(&Uuid::now_v7().simple().to_string())
                    .unwrap(),
                description: None,
                tags: Vec::new(),
                author_id: ann.id,
                created_at: now(),
            })
            .await
            .unwrap();

        for text in HOSTILE {
            let q = Some(text.to_owned());
            let found = users.find_credentials(text).await;
            assert!(
                matches!(found, Ok(None)),
                "{backend}: login {text:?}: {found:?}"
            );

            let filter = UserFilter {
                q: q.clone(),
                ..UserFilter::default()
            };
            let page_of = users.list(filter, Sort::default(), page(20, 0)).await;
            let page_of = page_of.unwrap_or_else(|e| panic!("{backend}: users q {text:?}: {e}"));
            assert_eq!((page_of.items.len(), page_of.total), (0, 0), "{backend}");

            let filter = ItemFilter {
                owner_id: Some(ann.id),
                q: q.clone(),
            };
            let page_of = items.list(filter, Sort::default(), page(20, 0)).await;
            let page_of = page_of.unwrap_or_else(|e| panic!("{backend}: items q {text:?}: {e}"));
            assert_eq!((page_of.items.len(), page_of.total), (0, 0), "{backend}");

            for filter in [
                PostFilter {
                    author: None,
                    q: q.clone(),
                    ..PostFilter::default()
                },
                PostFilter {
                    author: q.clone(),
                    q: None,
                    ..PostFilter::default()
                },
            ] {
                let page_of = posts
                    .list(filter.clone(), Sort::default(), page(20, 0))
                    .await;
                let page_of =
                    page_of.unwrap_or_else(|e| panic!("{backend}: posts {filter:?}: {e}"));
                assert_eq!((page_of.items.len(), page_of.total), (0, 0), "{backend}");
            }
        }

        // The same adapters still find what is there: nothing above was
        // hidden by a failing statement.
        assert!(users.find_credentials("ann").await.unwrap().is_some());
        let filter = ItemFilter {
            owner_id: Some(ann.id),
            q: Some("milk".into()),
        };
        let found = items
            .list(filter, Sort::default(), page(20, 0))
            .await
            .unwrap();
        assert_eq!(found.total, 1, "{backend}");
        let filter = PostFilter {
            author: Some("ann".into()),
            q: Some("milk".into()),
            ..PostFilter::default()
        };
        let found = posts
            .list(filter, Sort::default(), page(20, 0))
            .await
            .unwrap();
        assert_eq!(found.total, 1, "{backend}");
    }
}
