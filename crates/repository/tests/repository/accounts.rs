use std::sync::Arc;

use chrono::Duration;
use strata_domain::accounts::{AccountTokenRepository, MailedToken, TokenDraft, TokenPurpose};
use strata_domain::jobs::NewJob;
use strata_domain::users::{Email, UserChanges, UserRepository};
use strata_domain::{RepoError, UniqueField};
use strata_repository::{SeaAccountTokenRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{count, counting_statements, create_user, new_user, now, take, test_databases};

fn mailed(purpose: TokenPurpose, email: &str, hash: &str) -> MailedToken {
    let at = now();
    MailedToken {
        token: TokenDraft {
            id: Uuid::now_v7(),
            purpose,
            token_hash: hash.to_owned(),
            email: Email::parse(email).unwrap(),
            created_at: at,
            expires_at: at + Duration::hours(1),
        },
        mail: NewJob::new("send_email", serde_json::json!({"to": email}), 3, at),
    }
}

async fn tokens(db: &strata_repository::DatabaseConnection) -> i64 {
    count(db, "account_tokens", "1 = 1").await
}

async fn mails(db: &strata_repository::DatabaseConnection) -> i64 {
    count(db, "jobs", "kind = 'send_email'").await
}

#[tokio::test]
async fn an_issued_token_is_consumed_once_and_only_for_its_purpose() {
    for db in test_databases().await {
        let repo = SeaAccountTokenRepository::new(db.conn.clone());
        let ada = create_user(&db.conn, "ada@example.com", "ada").await;
        repo.issue(
            ada.id,
            mailed(TokenPurpose::VerifyEmail, "ada@example.com", "h1"),
        )
        .await
        .unwrap();
        assert_eq!(mails(&db.conn).await, 1, "{}", db.backend);

        let wrong = repo.consume(TokenPurpose::PasswordReset, "h1").await;
        assert_eq!(wrong.unwrap(), None, "{}", db.backend);
        let token = repo
            .consume(TokenPurpose::VerifyEmail, "h1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(token.user_id, ada.id);
        assert_eq!(token.email, "ada@example.com");
        assert_eq!(token.purpose, TokenPurpose::VerifyEmail);
        let again = repo.consume(TokenPurpose::VerifyEmail, "h1").await;
        assert_eq!(again.unwrap(), None, "{}", db.backend);
    }
}

#[tokio::test]
async fn a_new_token_supersedes_older_ones_of_the_same_purpose_only() {
    for db in test_databases().await {
        let repo = SeaAccountTokenRepository::new(db.conn.clone());
        let ada = create_user(&db.conn, "ada@example.com", "ada").await;
        let issue = |purpose, hash: &'static str| {
            repo.issue(ada.id, mailed(purpose, "ada@example.com", hash))
        };
        issue(TokenPurpose::VerifyEmail, "old").await.unwrap();
        issue(TokenPurpose::PasswordReset, "reset").await.unwrap();
        issue(TokenPurpose::VerifyEmail, "new").await.unwrap();

        let consume = |hash| repo.consume(TokenPurpose::VerifyEmail, hash);
        assert_eq!(consume("old").await.unwrap(), None, "{}", db.backend);
        assert!(consume("new").await.unwrap().is_some(), "{}", db.backend);
        let reset = repo.consume(TokenPurpose::PasswordReset, "reset").await;
        assert!(reset.unwrap().is_some(), "{}", db.backend);
    }
}

#[tokio::test]
async fn a_token_for_a_missing_account_writes_neither_token_nor_mail() {
    for db in test_databases().await {
        let repo = SeaAccountTokenRepository::new(db.conn.clone());
        let err = repo
            .issue(
                Uuid::now_v7(),
                mailed(TokenPurpose::VerifyEmail, "x@example.com", "h"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::NotFound),
            "{}: {err:?}",
            db.backend
        );
        assert_eq!(tokens(&db.conn).await, 0, "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 0, "{}", db.backend);
    }
}

#[tokio::test]
async fn a_reset_by_address_writes_token_and_mail_only_for_a_known_address() {
    for db in test_databases().await {
        let repo = SeaAccountTokenRepository::new(db.conn.clone());
        let ada = create_user(&db.conn, "ada@example.com", "ada").await;

        let unknown = mailed(TokenPurpose::PasswordReset, "nobody@example.com", "u");
        assert!(!repo.issue_for_address(unknown).await.unwrap());
        assert_eq!(tokens(&db.conn).await, 0, "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 0, "{}", db.backend);

        let first = mailed(TokenPurpose::PasswordReset, "ada@example.com", "k1");
        assert!(repo.issue_for_address(first).await.unwrap());
        let second = mailed(TokenPurpose::PasswordReset, "ada@example.com", "k2");
        assert!(repo.issue_for_address(second).await.unwrap());
        assert_eq!(tokens(&db.conn).await, 1, "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 2, "{}", db.backend);

        let token = repo.consume(TokenPurpose::PasswordReset, "k2").await;
        assert_eq!(token.unwrap().unwrap().user_id, ada.id, "{}", db.backend);
    }
}

#[tokio::test]
async fn a_reset_by_address_runs_as_many_statements_for_an_unknown_address() {
    for db in test_databases().await {
        create_user(&db.conn, "ada@example.com", "ada").await;
        let (counted, statements) = counting_statements(&db.conn);
        let repo = SeaAccountTokenRepository::new(counted);
        let known = mailed(TokenPurpose::PasswordReset, "ada@example.com", "k");
        assert!(repo.issue_for_address(known).await.unwrap());
        let for_known = take(&statements);
        let unknown = mailed(TokenPurpose::PasswordReset, "nobody@example.com", "u");
        assert!(!repo.issue_for_address(unknown).await.unwrap());
        assert_eq!(take(&statements), for_known, "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 1, "{}", db.backend);
    }
}

#[tokio::test]
async fn concurrent_uses_of_one_token_succeed_once() {
    for db in test_databases().await {
        let repo = Arc::new(SeaAccountTokenRepository::new(db.conn.clone()));
        let ada = create_user(&db.conn, "ada@example.com", "ada").await;
        repo.issue(
            ada.id,
            mailed(TokenPurpose::PasswordReset, "ada@example.com", "race"),
        )
        .await
        .unwrap();
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let repo = repo.clone();
                tokio::spawn(async move { repo.consume(TokenPurpose::PasswordReset, "race").await })
            })
            .collect();
        let mut won = 0;
        for attempt in attempts {
            if attempt.await.unwrap().unwrap().is_some() {
                won += 1;
            }
        }
        assert_eq!(won, 1, "{}", db.backend);
    }
}

#[tokio::test]
async fn registration_with_a_verification_mail_is_all_or_nothing() {
    for db in test_databases().await {
        let users = SeaUserRepository::new(db.conn.clone());
        let mut input = new_user("ada@example.com", "ada");
        input.verification = Some(mailed(TokenPurpose::VerifyEmail, "ada@example.com", "v"));
        let ada = users.create(input).await.unwrap();
        assert!(!ada.email_verified());
        assert_eq!(tokens(&db.conn).await, 1, "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 1, "{}", db.backend);

        let mut taken = new_user("ADA@example.com", "other");
        taken.verification = Some(mailed(TokenPurpose::VerifyEmail, "ada@example.com", "w"));
        let err = users.create(taken).await.unwrap_err();
        assert!(
            matches!(err, RepoError::Conflict(UniqueField::Email)),
            "{}: {err:?}",
            db.backend
        );
        assert_eq!(tokens(&db.conn).await, 1, "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 1, "{}", db.backend);
    }
}

#[tokio::test]
async fn verification_holds_for_the_mailed_address_until_it_changes() {
    for db in test_databases().await {
        let users = SeaUserRepository::new(db.conn.clone());
        let repo = SeaAccountTokenRepository::new(db.conn.clone());
        let ada = create_user(&db.conn, "ada@example.com", "ada").await;
        let other = Email::parse("other@example.com").unwrap();
        assert!(
            !repo
                .mark_email_verified(ada.id, &other, now())
                .await
                .unwrap()
        );
        let verified_at = now();
        assert!(
            repo.mark_email_verified(ada.id, &ada.email, verified_at)
                .await
                .unwrap()
        );
        let found = users.find_by_id(ada.id).await.unwrap();
        assert_eq!(found.email_verified_at, Some(verified_at), "{}", db.backend);

        // The same address again: still verified, nothing mailed.
        let same = UserChanges {
            email: Some(ada.email.clone()),
            verification: Some(mailed(TokenPurpose::VerifyEmail, "ada@example.com", "s")),
            ..UserChanges::default()
        };
        let kept = users.update(ada.id, same, now()).await.unwrap();
        assert!(kept.email_verified(), "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 0, "{}", db.backend);

        let moved = UserChanges {
            email: Some(Email::parse("ada@new.example.com").unwrap()),
            verification: Some(mailed(
                TokenPurpose::VerifyEmail,
                "ada@new.example.com",
                "n",
            )),
            ..UserChanges::default()
        };
        let changed = users.update(ada.id, moved, now()).await.unwrap();
        assert!(!changed.email_verified(), "{}", db.backend);
        assert_eq!(mails(&db.conn).await, 1, "{}", db.backend);
        assert_eq!(tokens(&db.conn).await, 1, "{}", db.backend);
    }
}

#[tokio::test]
async fn expired_tokens_are_purged_and_live_ones_kept() {
    for db in test_databases().await {
        let repo = SeaAccountTokenRepository::new(db.conn.clone());
        let ada = create_user(&db.conn, "ada@example.com", "ada").await;
        repo.issue(
            ada.id,
            mailed(TokenPurpose::VerifyEmail, "ada@example.com", "a"),
        )
        .await
        .unwrap();
        assert_eq!(repo.purge_expired(now()).await.unwrap(), 0);
        let later = now() + Duration::hours(2);
        assert_eq!(
            repo.purge_expired(later).await.unwrap(),
            1,
            "{}",
            db.backend
        );
        assert_eq!(tokens(&db.conn).await, 0, "{}", db.backend);
    }
}
