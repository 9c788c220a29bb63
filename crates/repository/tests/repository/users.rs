use chrono::Duration;
use strata_domain::auth::SessionRepository;
use strata_domain::users::{
    Email, FullName, PasswordHash, Role, UserChanges, UserRepository, Username,
};
use strata_domain::{RepoError, UniqueField};
use strata_repository::{SeaSessionRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{
    assert_not_found, count, create_user, is_not_found, new_session, new_token, new_user, now,
    test_databases,
};

#[tokio::test]
async fn a_created_user_is_found_by_id_unchanged() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let mut input = new_user("Ada@Example.com", "Ada_L");
        input.full_name = FullName::parse("Ada Lovelace").unwrap();
        input.role = Role::Admin;

        let created = repo.create(input.clone()).await.unwrap();
        assert_eq!(created.email.as_str(), "ada@example.com");
        assert_eq!(created.username.as_str(), "Ada_L");
        assert_eq!(created.role, Role::Admin);
        assert!(created.is_active);
        assert_eq!(created.created_at, created.updated_at);

        let found = repo.find_by_id(input.id).await.unwrap();
        assert_eq!(found, created, "{}", db.backend);
    }
}

#[tokio::test]
async fn finding_an_unknown_id_is_not_found() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        assert_not_found(repo.find_by_id(Uuid::now_v7()).await, db.backend);
        assert_not_found(
            repo.find_credentials_by_id(Uuid::now_v7()).await,
            db.backend,
        );
    }
}

#[tokio::test]
async fn duplicate_email_differing_in_case_is_a_conflict() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        repo.create(new_user("alice@example.com", "alice"))
            .await
            .unwrap();
        let err = repo
            .create(new_user("ALICE@Example.COM", "someone_else"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::Conflict(UniqueField::Email)),
            "{}: {err:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn duplicate_username_differing_in_case_is_a_conflict() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        repo.create(new_user("a@example.com", "Alice"))
            .await
            .unwrap();
        let err = repo
            .create(new_user("b@example.com", "aLICE"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::Conflict(UniqueField::Username)),
            "{}: {err:?}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_inserts_of_one_email_let_exactly_one_succeed() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..20 {
            let repo = repo.clone();
            tasks.spawn(async move {
                repo.create(new_user("race@example.com", &format!("racer_{i}")))
                    .await
            });
        }
        let mut ok = 0;
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(_) => ok += 1,
                Err(RepoError::Conflict(UniqueField::Email)) => {}
                Err(other) => panic!("{}: unexpected {other:?}", db.backend),
            }
        }
        assert_eq!(ok, 1, "{}", db.backend);
        assert_eq!(
            count(&db.conn, "users", "email = 'race@example.com'").await,
            1
        );
    }
}

#[tokio::test]
async fn credentials_are_found_by_email_or_username_in_any_case() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "bob@example.com", "Bob_99").await;

        for login in [
            "bob@example.com",
            "BOB@Example.Com",
            "  bob@example.com ",
            "Bob_99",
            "bob_99",
            "BOB_99",
        ] {
            let found = repo.find_credentials(login).await.unwrap();
            let found = found.unwrap_or_else(|| panic!("{}: {login} not found", db.backend));
            assert_eq!(found.user, user);
            assert_eq!(found.password_hash.as_str(), "$2b$04$hash");
        }
        assert!(repo.find_credentials("nobody").await.unwrap().is_none());
        assert!(
            repo.find_credentials("bob@example.org")
                .await
                .unwrap()
                .is_none()
        );

        let by_id = repo.find_credentials_by_id(user.id).await.unwrap();
        assert_eq!(by_id.user, user);
    }
}

#[tokio::test]
async fn update_applies_changes_and_bumps_updated_at() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let mut input = new_user("carol@example.com", "carol");
        input.full_name = FullName::parse("Carol").unwrap();
        let user = repo.create(input).await.unwrap();
        let later = user.created_at + Duration::seconds(5);

        let updated = repo
            .update(
                user.id,
                UserChanges {
                    email: Some(Email::parse("Carol2@example.com").unwrap()),
                    username: Some(Username::parse("CAROL").unwrap()),
                    full_name: Some(None),
                    role: Some(Role::Admin),
                    is_active: Some(false),
                    verification: None,
                },
                later,
            )
            .await
            .unwrap();
        assert_eq!(updated.email.as_str(), "carol2@example.com");
        assert_eq!(updated.username.as_str(), "CAROL");
        assert_eq!(updated.full_name, None);
        assert_eq!(updated.role, Role::Admin);
        assert!(!updated.is_active);
        assert_eq!(updated.created_at, user.created_at);
        assert_eq!(updated.updated_at, later);
        assert_eq!(repo.find_by_id(user.id).await.unwrap(), updated);
        // The folded username moved with the display name.
        assert!(repo.find_credentials("carol").await.unwrap().is_some());

        let untouched = repo
            .update(
                user.id,
                UserChanges::default(),
                later + Duration::seconds(1),
            )
            .await
            .unwrap();
        assert_eq!(untouched.email, updated.email);
        assert_eq!(untouched.updated_at, later + Duration::seconds(1));
    }
}

#[tokio::test]
async fn updating_to_a_taken_email_or_username_is_a_conflict() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        create_user(&db.conn, "dave@example.com", "dave").await;
        let erin = create_user(&db.conn, "erin@example.com", "erin").await;

        let err = repo
            .update(
                erin.id,
                UserChanges {
                    email: Some(Email::parse("DAVE@example.com").unwrap()),
                    ..UserChanges::default()
                },
                now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::Conflict(UniqueField::Email)),
            "{}: {err:?}",
            db.backend
        );

        let err = repo
            .update(
                erin.id,
                UserChanges {
                    username: Some(Username::parse("Dave").unwrap()),
                    ..UserChanges::default()
                },
                now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::Conflict(UniqueField::Username)),
            "{}: {err:?}",
            db.backend
        );
        assert_eq!(repo.find_by_id(erin.id).await.unwrap(), erin);
    }
}

#[tokio::test]
async fn updating_or_deleting_a_missing_user_is_not_found() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let missing = Uuid::now_v7();
        assert_not_found(
            repo.update(missing, UserChanges::default(), now()).await,
            db.backend,
        );
        assert_not_found(
            repo.set_password(missing, PasswordHash::new("x".into()), now())
                .await,
            db.backend,
        );
        assert_not_found(repo.delete(missing).await, db.backend);
    }
}

#[tokio::test]
async fn set_password_replaces_the_hash_and_bumps_updated_at() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "fay@example.com", "fay").await;
        let later = user.created_at + Duration::minutes(1);
        repo.set_password(user.id, PasswordHash::new("$2b$04$new".into()), later)
            .await
            .unwrap();
        let creds = repo.find_credentials_by_id(user.id).await.unwrap();
        assert_eq!(creds.password_hash.as_str(), "$2b$04$new");
        assert_eq!(creds.user.updated_at, later);
    }
}

#[tokio::test]
async fn deleting_a_user_cascades_to_sessions_and_refresh_tokens() {
    for db in test_databases().await {
        let users = SeaUserRepository::new(db.conn.clone());
        let sessions = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "gus@example.com", "gus").await;
        let at = now();
        let session = new_session(user.id, at);
        let token = new_token(session.id, at);
        sessions.create(session, token.clone()).await.unwrap();
        assert!(
            sessions
                .find_refresh_token(&token.token_hash)
                .await
                .unwrap()
                .is_some()
        );

        users.delete(user.id).await.unwrap();

        assert!(
            sessions
                .find_refresh_token(&token.token_hash)
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.backend
        );
        assert_eq!(count(&db.conn, "sessions", "1 = 1").await, 0);
        assert_eq!(count(&db.conn, "refresh_tokens", "1 = 1").await, 0);
        assert!(is_not_found(users.find_by_id(user.id).await));
    }
}
