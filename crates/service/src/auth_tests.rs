use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use strata_domain::auth::{MockSessionRepository, RefreshTokenRecord, Revocation};
use strata_domain::users::{MockUserRepository, PasswordHash, UserCredentials};
use strata_domain::{RepoError, UniqueField};

use super::*;
use crate::RevocationList;

const PASSWORD: &str = "Secret123";

fn user(active: bool) -> User {
    let now = Utc::now();
    User {
        id: Uuid::now_v7(),
        email: Email::parse("ada@example.com").unwrap(),
        username: Username::parse("ada").unwrap(),
        full_name: None,
        role: Role::User,
        is_active: active,
        email_verified_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn credentials(user: User) -> UserCredentials {
    UserCredentials {
        user,
        password_hash: PasswordHash::new(bcrypt::hash(PASSWORD, 4).unwrap()),
    }
}

fn codec() -> Arc<TokenCodec> {
    Arc::new(TokenCodec::new(
        b"0123456789abcdef0123456789abcdef",
        "strata",
        "strata-api",
        900,
    ))
}

/// Builds the service and hands back the revocation list so tests can watch it.
fn build(
    users: MockUserRepository,
    sessions: MockSessionRepository,
) -> (AuthServiceImpl, RevocationList) {
    let sessions: Arc<dyn SessionRepository> = Arc::new(sessions);
    let list = RevocationList::new();
    let revoker = Revoker::new(sessions.clone(), list.clone(), 900);
    let service = AuthServiceImpl::new(
        Arc::new(users),
        sessions,
        codec(),
        PasswordHasher::new(4),
        revoker,
        AuthConfig {
            access_ttl_secs: 900,
            refresh_ttl_secs: 3600,
        },
    );
    (service, list)
}

fn revocations_for(scope: RevocationScope, now: chrono::DateTime<Utc>) -> Vec<Revocation> {
    let session_id = match scope {
        RevocationScope::Session(id) => id,
        RevocationScope::User { .. } => Uuid::now_v7(),
    };
    vec![Revocation {
        session_id,
        revoked_at: now,
        expires_at: now + Duration::seconds(901),
    }]
}

fn record(consumed: bool, revoked: bool) -> RefreshTokenRecord {
    let now = Utc::now();
    RefreshTokenRecord {
        id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        expires_at: now + Duration::seconds(600),
        consumed_at: consumed.then_some(now),
        session_expires_at: now + Duration::seconds(600),
        session_revoked_at: revoked.then_some(now),
    }
}

#[tokio::test]
async fn register_stores_a_bcrypt_hash_and_returns_a_working_token_pair() {
    let mut users = MockUserRepository::new();
    users.expect_create_keyed().times(1).returning(|new, _| {
        assert!(bcrypt::verify(PASSWORD, new.password_hash.as_str()).unwrap());
        assert_eq!(new.role, Role::User);
        let mut u = user(true);
        u.id = new.id;
        Ok(u)
    });
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().times(1).returning(|_, _| Ok(()));
    let (service, _) = build(users, sessions);

    let registration = Registration::parse("Ada@Example.com", "ada", PASSWORD, None).unwrap();
    let (created, pair) = service.register(registration).await.unwrap();

    let principal = service.authenticate(&pair.access_token).unwrap();
    assert_eq!(principal.user_id, created.id);
    assert_eq!(pair.expires_in, 900);
    assert_eq!(pair.refresh_token.len(), 43);
}

#[tokio::test]
async fn registration_queues_the_verification_mail_with_the_account() {
    let mut users = MockUserRepository::new();
    users
        .expect_create_keyed()
        .withf(|new, _| {
            new.verification.as_ref().is_some_and(|v| {
                v.token.purpose == strata_domain::accounts::TokenPurpose::VerifyEmail
                    && v.token.email == new.email
                    && v.mail.kind == crate::jobs::kinds::send_email::KIND
            })
        })
        .times(1)
        .returning(|new, _| {
            let mut u = user(true);
            u.id = new.id;
            Ok(u)
        });
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().returning(|_, _| Ok(()));
    let (service, _) = build(users, sessions);
    let mail = crate::AccountMail::new(crate::AccountSettings::default()).unwrap();
    let service = service.with_account_mail(Arc::new(mail));
    let registration = Registration::parse("ada@example.com", "ada", PASSWORD, None).unwrap();
    service.register(registration).await.unwrap();
}

#[tokio::test]
async fn register_with_a_taken_email_is_a_conflict_and_starts_no_session() {
    let mut users = MockUserRepository::new();
    users
        .expect_create_keyed()
        .returning(|_, _| Err(RepoError::Conflict(UniqueField::Email)));
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().never();
    let (service, _) = build(users, sessions);
    let registration = Registration::parse("ada@example.com", "ada", PASSWORD, None).unwrap();
    assert!(matches!(
        service.register(registration).await,
        Err(ServiceError::Taken(UniqueField::Email))
    ));
}

#[test]
fn registration_parse_reports_every_invalid_field_at_once() {
    let errors = Registration::parse("nope", "a", "short", Some(&"x".repeat(101))).unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["email", "username", "password", "full_name"]);
}

#[tokio::test]
async fn login_with_an_unknown_user_and_with_a_wrong_password_fail_the_same_way() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials()
        .withf(|l| l == "ghost")
        .returning(|_| Ok(None));
    users
        .expect_find_credentials()
        .withf(|l| l == "ada")
        .returning(|_| Ok(Some(credentials(user(true)))));
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().never();
    let (service, _) = build(users, sessions);

    let unknown = service.login("ghost", PASSWORD).await.unwrap_err();
    let wrong = service.login("ada", "Wrong1234").await.unwrap_err();
    assert!(matches!(unknown, ServiceError::InvalidCredentials));
    assert!(matches!(wrong, ServiceError::InvalidCredentials));
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_even_with_the_right_password() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials()
        .returning(|_| Ok(Some(credentials(user(false)))));
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().never();
    let (service, _) = build(users, sessions);
    assert!(matches!(
        service.login("ada", PASSWORD).await,
        Err(ServiceError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn login_with_the_right_password_starts_a_session_bound_to_the_access_token() {
    let account = user(true);
    let id = account.id;
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials()
        .returning(move |_| Ok(Some(credentials(account.clone()))));
    let created = Arc::new(Mutex::new(None));
    let seen = created.clone();
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_create()
        .times(1)
        .returning(move |session, token| {
            assert_eq!(token.session_id, session.id);
            assert_eq!(token.expires_at, session.expires_at);
            *seen.lock().unwrap() = Some((session.id, token.token_hash));
            Ok(())
        });
    let (service, _) = build(users, sessions);

    let pair = service.login("  ada ", PASSWORD).await.unwrap();
    let principal = service.authenticate(&pair.access_token).unwrap();
    let (session_id, stored_hash) = created.lock().unwrap().clone().unwrap();
    assert_eq!(principal.user_id, id);
    assert_eq!(principal.session_id, session_id);
    assert_eq!(stored_hash, hash_refresh_token(&pair.refresh_token));
    assert_ne!(stored_hash, pair.refresh_token, "only the hash is stored");
}

#[tokio::test]
async fn refresh_rotates_the_token_and_keeps_the_session() {
    let rec = record(false, false);
    let (rec_id, sid, uid) = (rec.id, rec.session_id, rec.user_id);
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(move |_| {
        let mut u = user(true);
        u.id = uid;
        Ok(u)
    });
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_find_refresh_token()
        .returning(move |_| Ok(Some(rec.clone())));
    sessions
        .expect_rotate()
        .withf(move |consumed, _, next| *consumed == rec_id && next.session_id == sid)
        .times(1)
        .returning(|_, _, _| Ok(true));
    let (service, _) = build(users, sessions);

    let pair = service.refresh("presented").await.unwrap();
    let principal = service.authenticate(&pair.access_token).unwrap();
    assert_eq!((principal.user_id, principal.session_id), (uid, sid));
    assert_ne!(pair.refresh_token, "presented");
}

#[tokio::test]
async fn refresh_with_a_consumed_token_revokes_the_whole_session() {
    let rec = record(true, false);
    let sid = rec.session_id;
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_find_refresh_token()
        .returning(move |_| Ok(Some(rec.clone())));
    sessions.expect_rotate().never();
    sessions
        .expect_revoke()
        .withf(move |scope, _, _| *scope == RevocationScope::Session(sid))
        .times(1)
        .returning(|scope, now, _| Ok(revocations_for(scope, now)));
    let (service, list) = build(MockUserRepository::new(), sessions);

    assert!(matches!(
        service.refresh("stolen").await,
        Err(ServiceError::Unauthenticated(TokenRejection::Reused))
    ));
    assert!(
        list.is_revoked(sid, Utc::now()),
        "access tokens of the session die too"
    );
}

#[tokio::test]
async fn losing_a_concurrent_rotation_counts_as_reuse() {
    let rec = record(false, false);
    let (sid, uid) = (rec.session_id, rec.user_id);
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(move |_| {
        let mut u = user(true);
        u.id = uid;
        Ok(u)
    });
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_find_refresh_token()
        .returning(move |_| Ok(Some(rec.clone())));
    sessions.expect_rotate().returning(|_, _, _| Ok(false));
    sessions
        .expect_revoke()
        .times(1)
        .returning(|scope, now, _| Ok(revocations_for(scope, now)));
    let (service, list) = build(users, sessions);

    assert!(matches!(
        service.refresh("raced").await,
        Err(ServiceError::Unauthenticated(TokenRejection::Reused))
    ));
    assert!(list.is_revoked(sid, Utc::now()));
}

#[tokio::test]
async fn refresh_of_a_revoked_or_unknown_token_or_disabled_account_is_refused() {
    let revoked = record(false, true);
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_find_refresh_token()
        .times(1)
        .returning(move |_| Ok(Some(revoked.clone())));
    let (service, _) = build(MockUserRepository::new(), sessions);
    assert!(matches!(
        service.refresh("x").await,
        Err(ServiceError::Unauthenticated(TokenRejection::Revoked))
    ));

    let mut sessions = MockSessionRepository::new();
    sessions.expect_find_refresh_token().returning(|_| Ok(None));
    let (service, _) = build(MockUserRepository::new(), sessions);
    assert!(matches!(
        service.refresh("x").await,
        Err(ServiceError::Unauthenticated(TokenRejection::Invalid))
    ));

    let live = record(false, false);
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_find_refresh_token()
        .returning(move |_| Ok(Some(live.clone())));
    sessions.expect_rotate().never();
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(|_| Ok(user(false)));
    let (service, _) = build(users, sessions);
    assert!(matches!(
        service.refresh("x").await,
        Err(ServiceError::Unauthenticated(
            TokenRejection::AccountDisabled
        ))
    ));
}

#[tokio::test]
async fn logout_makes_the_sessions_access_token_fail_at_once() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials()
        .returning(|_| Ok(Some(credentials(user(true)))));
    let mut sessions = MockSessionRepository::new();
    sessions.expect_create().returning(|_, _| Ok(()));
    sessions
        .expect_revoke()
        .withf(|scope, _, until| {
            matches!(scope, RevocationScope::Session(_))
                && *until > Utc::now() + Duration::seconds(899)
        })
        .times(1)
        .returning(|scope, now, _| Ok(revocations_for(scope, now)));
    let (service, _) = build(users, sessions);

    let pair = service.login("ada", PASSWORD).await.unwrap();
    let principal = service.authenticate(&pair.access_token).unwrap();
    service.logout(&principal).await.unwrap();
    assert!(matches!(
        service.authenticate(&pair.access_token),
        Err(ServiceError::Unauthenticated(TokenRejection::Revoked))
    ));
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user() {
    let principal = Principal {
        user_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        role: Role::User,
    };
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revoke()
        .withf(move |scope, _, _| {
            *scope
                == RevocationScope::User {
                    user_id: principal.user_id,
                    except: None,
                }
        })
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    let (service, _) = build(MockUserRepository::new(), sessions);
    service.logout_all(&principal).await.unwrap();
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let account = user(true);
    let principal = Principal {
        user_id: account.id,
        session_id: Uuid::now_v7(),
        role: Role::User,
    };
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials_by_id()
        .returning(move |_| Ok(credentials(account.clone())));
    users.expect_set_password().never();
    let mut sessions = MockSessionRepository::new();
    sessions.expect_revoke().never();
    let (service, _) = build(users, sessions);
    let new = Password::parse("Another123").unwrap();
    assert!(matches!(
        service.change_password(&principal, "Wrong1234", new).await,
        Err(ServiceError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn a_password_change_stores_the_new_hash_and_revokes_the_other_sessions() {
    let account = user(true);
    let principal = Principal {
        user_id: account.id,
        session_id: Uuid::now_v7(),
        role: Role::User,
    };
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials_by_id()
        .returning(move |_| Ok(credentials(account.clone())));
    users
        .expect_set_password()
        .withf(|_, hash, _| bcrypt::verify("Another123", hash.as_str()).unwrap())
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revoke()
        .withf(move |scope, _, _| {
            *scope
                == RevocationScope::User {
                    user_id: principal.user_id,
                    except: Some(principal.session_id),
                }
        })
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    let (service, _) = build(users, sessions);
    let new = Password::parse("Another123").unwrap();
    service
        .change_password(&principal, PASSWORD, new)
        .await
        .unwrap();
}
