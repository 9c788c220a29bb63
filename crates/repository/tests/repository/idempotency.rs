use chrono::Duration;
use futures_util::future::join_all;
use strata_domain::RepoError;
use strata_domain::idempotency::{
    Attempt, Claim, Completion, IdempotencyKey, IdempotencyRepository, KeyedRequest, StoredResponse,
};
use strata_domain::items::{Item, ItemRepository, NewItem, Title};
use strata_domain::posts::{Body, NewPost, Post, PostRepository};
use strata_repository::{SeaIdempotencyRepository, SeaItemRepository, SeaPostRepository};
use uuid::Uuid;

use crate::common::{count, create_user, now, test_databases};

fn request(principal_id: Uuid, key: &str, fingerprint: &str) -> KeyedRequest {
    KeyedRequest {
        principal_id,
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: fingerprint.to_owned(),
    }
}

async fn claim(repo: &SeaIdempotencyRepository, request: &KeyedRequest) -> Claim {
    let at = now();
    repo.claim(
        request,
        at,
        at + Duration::seconds(60),
        at + Duration::hours(24),
    )
    .await
    .unwrap()
}

fn granted(claim: Claim, backend: &str) -> Attempt {
    match claim {
        Claim::Granted(attempt) => attempt,
        other => panic!("{backend}: expected a grant, got {other:?}"),
    }
}

fn answer_for(item: &Item) -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![("location".into(), format!("/api/v1/items/{}", item.id))],
        body: item.title.as_str().as_bytes().to_vec(),
    }
}

fn new_item(owner_id: Uuid, title: &str) -> NewItem {
    NewItem {
        id: Uuid::now_v7(),
        title: Title::parse(title).unwrap(),
        description: None,
        owner_id,
        created_at: now(),
    }
}

#[tokio::test]
async fn a_key_is_granted_once_then_replays_what_its_effect_stored() {
    for db in test_databases().await {
        let owner = create_user(&db.conn, "ada@example.com", "ada").await;
        let keys = SeaIdempotencyRepository::new(db.conn.clone());
        let items = SeaItemRepository::new(db.conn.clone());
        let req = request(owner.id, "k-1", "f1");

        let attempt = granted(claim(&keys, &req).await, db.backend);
        // Until the effect commits, the key is busy.
        assert!(
            matches!(claim(&keys, &req).await, Claim::InProgress { .. }),
            "{}",
            db.backend
        );
        let created = items
            .create_keyed(
                new_item(owner.id, "Milk"),
                Some(Completion::new(attempt, answer_for)),
            )
            .await
            .unwrap();
        match claim(&keys, &req).await {
            Claim::Replay(stored) => assert_eq!(stored, answer_for(&created), "{}", db.backend),
            other => panic!("{}: expected a replay, got {other:?}", db.backend),
        }
        // The same key with another request, and with the same request once
        // more: a mismatch, and still no second item.
        assert_eq!(
            claim(&keys, &request(owner.id, "k-1", "f2")).await,
            Claim::Mismatch,
            "{}",
            db.backend
        );
        assert_eq!(count(&db.conn, "items", "1 = 1").await, 1, "{}", db.backend);
        // Keys are scoped by principal.
        let other = create_user(&db.conn, "bob@example.com", "bob").await;
        granted(
            claim(&keys, &request(other.id, "k-1", "f2")).await,
            db.backend,
        );
    }
}

#[tokio::test]
async fn concurrent_claims_of_a_new_key_grant_it_to_exactly_one() {
    for db in test_databases().await {
        let owner = create_user(&db.conn, "ada@example.com", "ada").await;
        let keys = SeaIdempotencyRepository::new(db.conn.clone());
        let req = request(owner.id, "race", "f");
        let claims = join_all((0..16).map(|_| claim(&keys, &req))).await;
        let grants = claims
            .iter()
            .filter(|c| matches!(c, Claim::Granted(_)))
            .count();
        assert_eq!(grants, 1, "{}: {claims:?}", db.backend);
        assert!(
            claims
                .iter()
                .all(|c| matches!(c, Claim::Granted(_) | Claim::InProgress { .. })),
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn an_attempt_that_lost_its_key_writes_nothing() {
    for db in test_databases().await {
        let owner = create_user(&db.conn, "ada@example.com", "ada").await;
        let keys = SeaIdempotencyRepository::new(db.conn.clone());
        let posts = SeaPostRepository::new(db.conn.clone());
        let req = request(owner.id, "slow", "f");
        let at = now();
        // A lease that has already run out: a retry takes the key over.
        let first = granted(
            keys.claim(&req, at, at - Duration::seconds(1), at + Duration::hours(1))
                .await
                .unwrap(),
            db.backend,
        );
        let second = granted(claim(&keys, &req).await, db.backend);
        assert_ne!(first.token, second.token);
        let post = |title: &str| NewPost {
            id: Uuid::now_v7(),
            title: Title::parse(title).unwrap(),
            body: Body::parse("text", Body::POST_MAX).unwrap(),
            slug: strata_domain::posts::Slug::parse(&Uuid::now_v7().simple().to_string()).unwrap(),
            description: None,
            tags: Vec::new(),
            author_id: owner.id,
            created_at: now(),
        };
        let render = |_: &Post| StoredResponse {
            status: 201,
            headers: vec![],
            body: vec![],
        };
        let late = posts
            .create_keyed(post("late"), Some(Completion::new(first, render)))
            .await;
        assert!(matches!(late, Err(RepoError::ClaimLost)), "{}", db.backend);
        assert_eq!(count(&db.conn, "posts", "1 = 1").await, 0, "{}", db.backend);
        posts
            .create_keyed(post("retry"), Some(Completion::new(second, render)))
            .await
            .unwrap();
        assert_eq!(count(&db.conn, "posts", "1 = 1").await, 1, "{}", db.backend);
    }
}

#[tokio::test]
async fn a_released_key_runs_again_and_expired_keys_are_purged() {
    for db in test_databases().await {
        let owner = create_user(&db.conn, "ada@example.com", "ada").await;
        let keys = SeaIdempotencyRepository::new(db.conn.clone());
        let req = request(owner.id, "k", "f");
        let attempt = granted(claim(&keys, &req).await, db.backend);
        keys.release(&attempt).await.unwrap();
        let again = granted(claim(&keys, &req).await, db.backend);
        // Releasing a stale attempt leaves the new one alone.
        keys.release(&attempt).await.unwrap();
        assert!(
            matches!(claim(&keys, &req).await, Claim::InProgress { .. }),
            "{}",
            db.backend
        );
        keys.release(&again).await.unwrap();

        // Expired records are replaced on claim, and purged.
        let at = now();
        granted(
            keys.claim(&req, at, at, at - Duration::seconds(1))
                .await
                .unwrap(),
            db.backend,
        );
        granted(
            claim(&keys, &request(owner.id, "k", "other")).await,
            db.backend,
        );
        let old = request(owner.id, "old", "f");
        granted(
            keys.claim(&old, at, at, at - Duration::seconds(1))
                .await
                .unwrap(),
            db.backend,
        );
        assert_eq!(
            keys.purge_expired(now()).await.unwrap(),
            1,
            "{}",
            db.backend
        );
        assert_eq!(
            count(&db.conn, "idempotency_keys", "1 = 1").await,
            1,
            "{}",
            db.backend
        );
    }
}
