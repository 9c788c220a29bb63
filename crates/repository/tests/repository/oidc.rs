use std::sync::Arc;

use chrono::Duration;
use strata_domain::RepoError;
use strata_domain::UniqueField;
use strata_domain::oidc::{
    FlowMode, LoginCode, NewIdentity, OidcRepository, PendingLogin, Unlinked,
};
use strata_domain::users::{PasswordHash, UserRepository};
use strata_repository::{SeaOidcRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{count, create_user, new_user, now, test_databases};

fn identity(subject: &str) -> NewIdentity {
    NewIdentity {
        id: Uuid::now_v7(),
        provider: "google".into(),
        issuer: "https://accounts.google.com".into(),
        subject: subject.into(),
        email: Some("ada@example.com".into()),
        created_at: now(),
    }
}

fn pending(state_hash: &str, link: Option<Uuid>) -> PendingLogin {
    PendingLogin {
        id: Uuid::now_v7(),
        state_hash: state_hash.into(),
        binding_hash: "binding".into(),
        provider: "google".into(),
        nonce: "nonce".into(),
        pkce_verifier: "verifier".into(),
        mode: FlowMode::Browser,
        link_user_id: link,
        created_at: now(),
        expires_at: now() + Duration::minutes(10),
    }
}

#[tokio::test]
async fn a_pending_login_is_taken_once_even_by_racing_callbacks() {
    for db in test_databases().await {
        let repo = Arc::new(SeaOidcRepository::new(db.conn.clone()));
        let login = pending("s1", None);
        repo.save_pending(login.clone()).await.unwrap();
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let repo = repo.clone();
                tokio::spawn(async move { repo.take_pending("s1").await.unwrap() })
            })
            .collect();
        let mut won = Vec::new();
        for racer in racers {
            won.extend(racer.await.unwrap());
        }
        assert_eq!(won, vec![login], "{}", db.backend);
        assert_eq!(repo.take_pending("s1").await.unwrap(), None);
        // A linking flow names an account that must exist.
        let ghost = repo.save_pending(pending("s2", Some(Uuid::now_v7()))).await;
        assert!(
            matches!(ghost, Err(RepoError::NotFound)),
            "{}: {ghost:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn an_account_and_its_identity_are_created_together_and_found_by_issuer_and_subject() {
    for db in test_databases().await {
        let repo = SeaOidcRepository::new(db.conn.clone());
        let mut user = new_user("ada@example.com", "ada");
        user.password_hash = PasswordHash::none();
        user.email_verified_at = Some(now());
        let created = repo.create_account(user, identity("sub-1")).await.unwrap();
        assert!(created.email_verified());
        let found = repo
            .find_identity("https://accounts.google.com", "sub-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.user_id, created.id, "{}", db.backend);
        // By (issuer, subject) only: another issuer's same subject is not it.
        let other = repo
            .find_identity("https://other.example.com", "sub-1")
            .await;
        assert_eq!(other.unwrap(), None);
        let stored = SeaUserRepository::new(db.conn.clone())
            .find_credentials_by_id(created.id)
            .await
            .unwrap();
        assert!(!stored.password_hash.is_set());

        // A taken address leaves neither row behind.
        let again = repo
            .create_account(new_user("ada@example.com", "ada2"), identity("sub-2"))
            .await;
        assert!(
            matches!(again, Err(RepoError::Conflict(UniqueField::Email))),
            "{again:?}"
        );
        assert_eq!(count(&db.conn, "user_identities", "1 = 1").await, 1);
        // One identity, one account.
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        let taken = repo.link(bob.id, identity("sub-1")).await;
        assert!(
            matches!(taken, Err(RepoError::Conflict(UniqueField::Other))),
            "{taken:?}"
        );
    }
}

#[tokio::test]
async fn unlinking_keeps_a_way_in_and_deleting_the_account_takes_its_identities() {
    for db in test_databases().await {
        let repo = SeaOidcRepository::new(db.conn.clone());
        let mut user = new_user("ada@example.com", "ada");
        user.password_hash = PasswordHash::none();
        let ada = repo.create_account(user, identity("sub-1")).await.unwrap();
        let first = repo.identities(ada.id).await.unwrap()[0].id;
        assert_eq!(
            repo.unlink(ada.id, first).await.unwrap(),
            Unlinked::LastSignInMethod,
            "{}",
            db.backend
        );
        let second = repo.link(ada.id, identity("sub-2")).await.unwrap();
        let listed = repo.identities(ada.id).await.unwrap();
        assert_eq!(
            listed.iter().map(|i| i.id).collect::<Vec<_>>(),
            [first, second.id]
        );
        // Someone else's identity is not found, not removed.
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        assert_eq!(
            repo.unlink(bob.id, first).await.unwrap(),
            Unlinked::NotFound
        );
        assert_eq!(repo.unlink(ada.id, first).await.unwrap(), Unlinked::Removed);
        assert_eq!(
            repo.unlink(ada.id, second.id).await.unwrap(),
            Unlinked::LastSignInMethod
        );
        // With a password, the last identity may go.
        let carol = create_user(&db.conn, "carol@example.com", "carol").await;
        let only = repo.link(carol.id, identity("sub-3")).await.unwrap();
        assert_eq!(
            repo.unlink(carol.id, only.id).await.unwrap(),
            Unlinked::Removed
        );

        SeaUserRepository::new(db.conn.clone())
            .delete(ada.id)
            .await
            .unwrap();
        assert_eq!(count(&db.conn, "user_identities", "1 = 1").await, 0);
    }
}

#[tokio::test]
async fn login_codes_are_single_use_and_expired_rows_are_purged() {
    for db in test_databases().await {
        let repo = SeaOidcRepository::new(db.conn.clone());
        let ada = create_user(&db.conn, "ada@example.com", "ada").await;
        let at = now();
        for (hash, expires_at) in [
            ("c1", at + Duration::seconds(60)),
            ("c2", at - Duration::seconds(1)),
        ] {
            repo.save_code(LoginCode {
                code_hash: hash.into(),
                user_id: ada.id,
                created_at: at,
                expires_at,
            })
            .await
            .unwrap();
        }
        let mut old = pending("s-old", None);
        old.expires_at = at - Duration::seconds(1);
        repo.save_pending(old).await.unwrap();
        repo.save_pending(pending("s-new", None)).await.unwrap();

        assert_eq!(repo.take_code("c1").await.unwrap().unwrap().user_id, ada.id);
        assert_eq!(repo.take_code("c1").await.unwrap(), None, "{}", db.backend);
        assert_eq!(repo.purge_expired(at).await.unwrap(), 2);
        assert!(repo.take_pending("s-new").await.unwrap().is_some());
    }
}
