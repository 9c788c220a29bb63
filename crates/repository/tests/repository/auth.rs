use chrono::{DateTime, Duration, Utc};
use strata_domain::auth::{Revocation, RevocationScope, SessionRepository};
use strata_domain::users::UserRepository;
use strata_repository::{SeaSessionRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{
    assert_not_found, count, create_user, new_session, new_token, now, test_databases,
};

#[tokio::test]
async fn a_refresh_token_is_found_by_its_hash_with_its_session() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let at = now();
        let session = new_session(user.id, at);
        let token = new_token(session.id, at);
        repo.create(session.clone(), token.clone()).await.unwrap();

        let record = repo
            .find_refresh_token(&token.token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.id, token.id, "{}", db.backend);
        assert_eq!(record.session_id, session.id);
        assert_eq!(record.user_id, user.id);
        assert_eq!(record.expires_at, token.expires_at);
        assert_eq!(record.consumed_at, None);
        assert_eq!(record.session_expires_at, session.expires_at);
        assert_eq!(record.session_revoked_at, None);

        assert!(repo.find_refresh_token("unknown").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn creating_a_session_for_a_missing_user_is_not_found_and_stores_nothing() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let at = now();
        let session = new_session(Uuid::now_v7(), at);
        let token = new_token(session.id, at);
        assert_not_found(repo.create(session, token).await, db.backend);
        assert_eq!(count(&db.conn, "sessions", "1 = 1").await, 0);
        assert_eq!(count(&db.conn, "refresh_tokens", "1 = 1").await, 0);
    }
}

#[tokio::test]
async fn rotate_consumes_a_token_only_once() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let at = now();
        let session = new_session(user.id, at);
        let first = new_token(session.id, at);
        repo.create(session.clone(), first.clone()).await.unwrap();

        let later = at + Duration::minutes(1);
        let second = new_token(session.id, later);
        assert!(repo.rotate(first.id, later, second.clone()).await.unwrap());

        let consumed = repo
            .find_refresh_token(&first.token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(consumed.consumed_at, Some(later), "{}", db.backend);
        let next = repo
            .find_refresh_token(&second.token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.consumed_at, None);

        let third = new_token(session.id, later);
        assert!(!repo.rotate(first.id, later, third.clone()).await.unwrap());
        assert!(
            repo.find_refresh_token(&third.token_hash)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(count(&db.conn, "refresh_tokens", "1 = 1").await, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_one_token_let_exactly_one_succeed() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let at = now();
        let session = new_session(user.id, at);
        let first = new_token(session.id, at);
        repo.create(session.clone(), first.clone()).await.unwrap();

        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let repo = repo.clone();
            let next = new_token(session.id, at);
            tasks.spawn(async move { repo.rotate(first.id, at, next).await });
        }
        let mut won = 0;
        while let Some(result) = tasks.join_next().await {
            if result.unwrap().unwrap() {
                won += 1;
            }
        }
        assert_eq!(won, 1, "{}", db.backend);
        assert_eq!(count(&db.conn, "refresh_tokens", "1 = 1").await, 2);
    }
}

#[tokio::test]
async fn revoking_a_users_sessions_spares_the_excepted_one() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let other = create_user(&db.conn, "b@example.com", "bob").await;
        let at = now();
        let mut mine = Vec::new();
        for _ in 0..3 {
            let session = new_session(user.id, at);
            repo.create(session.clone(), new_token(session.id, at))
                .await
                .unwrap();
            mine.push(session.id);
        }
        let theirs = new_session(other.id, at);
        repo.create(theirs.clone(), new_token(theirs.id, at))
            .await
            .unwrap();

        let revoked_at = at + Duration::minutes(1);
        let until = revoked_at + Duration::minutes(15);
        let mut written = repo
            .revoke(
                RevocationScope::User {
                    user_id: user.id,
                    except: Some(mine[0]),
                },
                revoked_at,
                until,
            )
            .await
            .unwrap();
        written.sort_by_key(|r| r.session_id);
        let mut expected: Vec<Revocation> = mine[1..]
            .iter()
            .map(|&session_id| Revocation {
                session_id,
                revoked_at,
                expires_at: until,
            })
            .collect();
        expected.sort_by_key(|r| r.session_id);
        assert_eq!(written, expected, "{}", db.backend);

        assert_eq!(count(&db.conn, "sessions", "revoked_at IS NULL").await, 2);
        assert_eq!(count(&db.conn, "revocations", "1 = 1").await, 2);

        // Already-revoked sessions are left alone; the spared one is revoked now.
        let again = repo
            .revoke(
                RevocationScope::User {
                    user_id: user.id,
                    except: None,
                },
                revoked_at + Duration::minutes(1),
                until,
            )
            .await
            .unwrap();
        assert_eq!(
            again.iter().map(|r| r.session_id).collect::<Vec<_>>(),
            vec![mine[0]]
        );
        assert_eq!(count(&db.conn, "revocations", "1 = 1").await, 3);
    }
}

#[tokio::test]
async fn revoking_one_session_marks_it_and_repeating_it_records_nothing() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let at = now();
        let session = new_session(user.id, at);
        let token = new_token(session.id, at);
        repo.create(session.clone(), token.clone()).await.unwrap();

        let until = at + Duration::minutes(15);
        let written = repo
            .revoke(RevocationScope::Session(session.id), at, until)
            .await
            .unwrap();
        assert_eq!(
            written,
            vec![Revocation {
                session_id: session.id,
                revoked_at: at,
                expires_at: until
            }]
        );
        let record = repo
            .find_refresh_token(&token.token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.session_revoked_at, Some(at), "{}", db.backend);

        let repeated = repo
            .revoke(RevocationScope::Session(session.id), at, until)
            .await
            .unwrap();
        assert!(repeated.is_empty());
        assert_eq!(count(&db.conn, "revocations", "1 = 1").await, 1);
    }
}

#[tokio::test]
async fn revocations_survive_the_deletion_of_their_user() {
    for db in test_databases().await {
        let sessions = SeaSessionRepository::new(db.conn.clone());
        let users = SeaUserRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let at = now();
        let session = new_session(user.id, at);
        sessions
            .create(session.clone(), new_token(session.id, at))
            .await
            .unwrap();
        let written = sessions
            .revoke(
                RevocationScope::User {
                    user_id: user.id,
                    except: None,
                },
                at,
                at + Duration::minutes(15),
            )
            .await
            .unwrap();

        users.delete(user.id).await.unwrap();

        assert_eq!(count(&db.conn, "sessions", "1 = 1").await, 0);
        assert_eq!(count(&db.conn, "revocations", "1 = 1").await, 1);
        let loaded = sessions
            .revocations_since(DateTime::<Utc>::MIN_UTC, at)
            .await
            .unwrap();
        assert_eq!(loaded, written, "{}", db.backend);
    }
}

#[tokio::test]
async fn revocations_since_returns_only_recent_ones_still_in_force() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let t0 = now();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let session = new_session(user.id, t0);
            repo.create(session.clone(), new_token(session.id, t0))
                .await
                .unwrap();
            ids.push(session.id);
        }
        // Revoked at t0, t0+1m, t0+2m; remembered for 10 minutes from t0
        // except the last, remembered for an hour.
        for (i, id) in ids.iter().enumerate() {
            let at = t0 + Duration::minutes(i as i64);
            let until = if i == 2 {
                t0 + Duration::hours(1)
            } else {
                t0 + Duration::minutes(10)
            };
            repo.revoke(RevocationScope::Session(*id), at, until)
                .await
                .unwrap();
        }

        let all = repo
            .revocations_since(DateTime::<Utc>::MIN_UTC, t0)
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|r| r.session_id).collect::<Vec<_>>(),
            ids,
            "{}",
            db.backend
        );

        let recent = repo
            .revocations_since(t0 + Duration::minutes(1), t0)
            .await
            .unwrap();
        assert_eq!(
            recent.iter().map(|r| r.session_id).collect::<Vec<_>>(),
            ids[1..]
        );

        // Once the 10-minute ones have expired only the long one is in force.
        let later = repo
            .revocations_since(DateTime::<Utc>::MIN_UTC, t0 + Duration::minutes(10))
            .await
            .unwrap();
        assert_eq!(
            later.iter().map(|r| r.session_id).collect::<Vec<_>>(),
            ids[2..]
        );
    }
}

#[tokio::test]
async fn purge_expired_removes_expired_rows_only() {
    for db in test_databases().await {
        let repo = SeaSessionRepository::new(db.conn.clone());
        let user = create_user(&db.conn, "a@example.com", "alice").await;
        let t0 = now();
        let purge_at = t0 + Duration::days(1);

        // An expired session with its (expired) token.
        let mut old = new_session(user.id, t0);
        old.expires_at = t0 + Duration::hours(1);
        let mut old_token = new_token(old.id, t0);
        old_token.expires_at = t0 + Duration::hours(1);
        repo.create(old.clone(), old_token).await.unwrap();

        // A live session with one expired and one live token.
        let live = new_session(user.id, t0);
        let mut expired_token = new_token(live.id, t0);
        expired_token.expires_at = t0 + Duration::hours(2);
        repo.create(live.clone(), expired_token.clone())
            .await
            .unwrap();
        let live_token = new_token(live.id, t0);
        assert!(
            repo.rotate(expired_token.id, t0, live_token.clone())
                .await
                .unwrap()
        );

        // One expired and one live revocation.
        repo.revoke(
            RevocationScope::Session(old.id),
            t0,
            t0 + Duration::hours(3),
        )
        .await
        .unwrap();
        let other = new_session(user.id, t0);
        repo.create(other.clone(), new_token(other.id, t0))
            .await
            .unwrap();
        repo.revoke(
            RevocationScope::Session(other.id),
            t0,
            t0 + Duration::days(2),
        )
        .await
        .unwrap();

        let purged = repo.purge_expired(purge_at).await.unwrap();
        // 1 revocation + 2 refresh tokens + 1 session.
        assert_eq!(purged, 4, "{}", db.backend);

        assert_eq!(count(&db.conn, "sessions", "1 = 1").await, 2);
        assert_eq!(count(&db.conn, "refresh_tokens", "1 = 1").await, 2);
        assert!(
            repo.find_refresh_token(&live_token.token_hash)
                .await
                .unwrap()
                .is_some()
        );
        let remaining = repo
            .revocations_since(DateTime::<Utc>::MIN_UTC, purge_at)
            .await
            .unwrap();
        assert_eq!(
            remaining.iter().map(|r| r.session_id).collect::<Vec<_>>(),
            vec![other.id]
        );
        assert_eq!(count(&db.conn, "revocations", "1 = 1").await, 1);

        assert_eq!(repo.purge_expired(purge_at).await.unwrap(), 0);
        assert!(
            SeaUserRepository::new(db.conn.clone())
                .find_by_id(user.id)
                .await
                .is_ok()
        );
    }
}
