use chrono::Utc;
use strata_domain::auth::{MockSessionRepository, Revocation};
use strata_domain::users::{MockUserRepository, PasswordHash, Role, UserCredentials, UserStats};
use uuid::Uuid;

use super::*;
use crate::RevocationList;
use crate::test_support::caller;

fn account(id: Uuid) -> User {
    let now = Utc::now();
    User {
        id,
        email: Email::parse("ada@example.com").unwrap(),
        username: Username::parse("ada").unwrap(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn service(users: MockUserRepository, sessions: MockSessionRepository) -> UserServiceImpl {
    let revoker = Revoker::new(Arc::new(sessions), RevocationList::new(), 900);
    UserServiceImpl::new(Arc::new(users), PasswordHasher::new(4), revoker)
}

fn with_password(id: Uuid) -> UserCredentials {
    UserCredentials {
        user: account(id),
        password_hash: PasswordHash::new(bcrypt::hash("Secret123", 4).unwrap()),
    }
}

/// Expects every session of `user_id` to be revoked once.
pub(crate) fn revokes_user(sessions: &mut MockSessionRepository, user_id: Uuid) {
    sessions
        .expect_revoke()
        .withf(move |scope, _, _| {
            *scope
                == RevocationScope::User {
                    user_id,
                    except: None,
                }
        })
        .times(1)
        .returning(|_, now, until| {
            Ok(vec![Revocation {
                session_id: Uuid::now_v7(),
                revoked_at: now,
                expires_at: until,
            }])
        });
}

#[tokio::test]
async fn update_me_never_touches_role_or_activation() {
    let p = caller(Role::User);
    let mut users = MockUserRepository::new();
    users
        .expect_update()
        .withf(|_, changes, _| {
            changes.role.is_none() && changes.is_active.is_none() && changes.username.is_some()
        })
        .times(1)
        .returning(|id, _, _| Ok(account(id)));
    let changes = ProfileChanges {
        username: Some(Username::parse("ada2").unwrap()),
        ..Default::default()
    };
    let updated = service(users, MockSessionRepository::new())
        .update_me(&p, changes)
        .await
        .unwrap();
    assert_eq!(updated.id, p.user_id);
}

#[tokio::test]
async fn an_empty_update_reads_instead_of_writing() {
    let mut users = MockUserRepository::new();
    users.expect_update().never();
    users
        .expect_find_by_id()
        .times(1)
        .returning(|id| Ok(account(id)));
    service(users, MockSessionRepository::new())
        .update_me(&caller(Role::User), ProfileChanges::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn me_for_a_deleted_account_is_unauthenticated() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_by_id()
        .returning(|_| Err(RepoError::NotFound));
    assert!(matches!(
        service(users, MockSessionRepository::new())
            .me(&caller(Role::User))
            .await,
        Err(ServiceError::Unauthenticated(
            TokenRejection::AccountDisabled
        ))
    ));
}

#[tokio::test]
async fn delete_me_with_a_wrong_password_deletes_nothing() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials_by_id()
        .returning(|id| Ok(with_password(id)));
    users.expect_delete().never();
    let mut sessions = MockSessionRepository::new();
    sessions.expect_revoke().never();
    assert!(matches!(
        service(users, sessions)
            .delete_me(&caller(Role::User), "Wrong1234")
            .await,
        Err(ServiceError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn delete_me_revokes_every_session_then_deletes_the_account() {
    let p = caller(Role::User);
    let mut seq = mockall::Sequence::new();
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials_by_id()
        .returning(|id| Ok(with_password(id)));
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revoke()
        .withf(move |scope, _, _| {
            *scope
                == RevocationScope::User {
                    user_id: p.user_id,
                    except: None,
                }
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(vec![]));
    users
        .expect_delete()
        .withf(move |id| *id == p.user_id)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    service(users, sessions)
        .delete_me(&p, "Secret123")
        .await
        .unwrap();
}

#[tokio::test]
async fn every_admin_use_case_is_forbidden_to_plain_users() {
    let p = caller(Role::User);
    let mut users = MockUserRepository::new();
    users.expect_list().never();
    users.expect_find_by_id().never();
    users.expect_update().never();
    users.expect_delete().never();
    users.expect_stats().never();
    users.expect_export_batch().never();
    let s = service(users, MockSessionRepository::new());
    let id = Uuid::now_v7();
    let forbidden =
        |r: Result<(), ServiceError>| assert!(matches!(r, Err(ServiceError::Forbidden)));
    forbidden(
        s.list(
            &p,
            UserFilter::default(),
            Sort::default(),
            PageRequest::default(),
        )
        .await
        .map(drop),
    );
    forbidden(s.get(&p, id).await.map(drop));
    forbidden(s.update(&p, id, UserChanges::default()).await.map(drop));
    forbidden(s.delete(&p, id).await);
    forbidden(s.stats(&p).await.map(drop));
    forbidden(s.export_batch(&p, None, 10).await.map(drop));
    let reg = Registration::parse("x@example.com", "xyz", "Secret123", None).unwrap();
    forbidden(s.create(&p, reg, Role::Admin, None).await.map(drop));
}

#[tokio::test]
async fn an_admin_cannot_delete_demote_or_deactivate_themself() {
    let admin = caller(Role::Admin);
    let mut users = MockUserRepository::new();
    users.expect_update().never();
    users.expect_delete().never();
    let s = service(users, MockSessionRepository::new());
    let demote = UserChanges {
        role: Some(Role::User),
        ..Default::default()
    };
    let deactivate = UserChanges {
        is_active: Some(false),
        ..Default::default()
    };
    assert!(matches!(
        s.update(&admin, admin.user_id, demote).await,
        Err(ServiceError::Conflict(_))
    ));
    assert!(matches!(
        s.update(&admin, admin.user_id, deactivate).await,
        Err(ServiceError::Conflict(_))
    ));
    assert!(matches!(
        s.delete(&admin, admin.user_id).await,
        Err(ServiceError::Conflict(_))
    ));
}

#[tokio::test]
async fn deactivating_a_user_revokes_their_sessions_at_once() {
    let admin = caller(Role::Admin);
    let target = Uuid::now_v7();
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(|id| Ok(account(id)));
    users.expect_update().returning(|id, _, _| {
        let mut u = account(id);
        u.is_active = false;
        Ok(u)
    });
    let mut sessions = MockSessionRepository::new();
    revokes_user(&mut sessions, target);
    let s = service(users, sessions);
    let updated = s
        .update(
            &admin,
            target,
            UserChanges {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!updated.is_active);
}

#[tokio::test]
async fn changing_a_role_revokes_sessions_but_a_rename_does_not() {
    let admin = caller(Role::Admin);
    let target = Uuid::now_v7();
    let mut users = MockUserRepository::new();
    users.expect_find_by_id().returning(|id| Ok(account(id)));
    users.expect_update().returning(|id, changes, _| {
        let mut u = account(id);
        if let Some(role) = changes.role {
            u.role = role;
        }
        Ok(u)
    });
    let mut sessions = MockSessionRepository::new();
    revokes_user(&mut sessions, target);
    let s = service(users, sessions);
    let promote = UserChanges {
        role: Some(Role::Admin),
        ..Default::default()
    };
    assert_eq!(
        s.update(&admin, target, promote).await.unwrap().role,
        Role::Admin
    );
    // The mock allows exactly one revocation: a rename must not add another.
    let rename = UserChanges {
        full_name: Some(None),
        ..Default::default()
    };
    s.update(&admin, target, rename).await.unwrap();
}

#[tokio::test]
async fn deleting_a_user_revokes_then_deletes_and_a_missing_one_is_not_found() {
    let admin = caller(Role::Admin);
    let target = Uuid::now_v7();
    let mut users = MockUserRepository::new();
    users
        .expect_find_by_id()
        .withf(move |id| *id == target)
        .returning(|id| Ok(account(id)));
    users
        .expect_find_by_id()
        .returning(|_| Err(RepoError::NotFound));
    users
        .expect_delete()
        .withf(move |id| *id == target)
        .times(1)
        .returning(|_| Ok(()));
    let mut sessions = MockSessionRepository::new();
    revokes_user(&mut sessions, target);
    let s = service(users, sessions);
    s.delete(&admin, target).await.unwrap();
    assert!(matches!(
        s.delete(&admin, Uuid::now_v7()).await,
        Err(ServiceError::NotFound)
    ));
}

#[tokio::test]
async fn stats_cover_thirty_days_with_zeros_where_nobody_signed_up() {
    let today = Utc::now().date_naive();
    let mut users = MockUserRepository::new();
    users.expect_stats().returning(move |since| {
        assert_eq!(since.date_naive(), today - Duration::days(29));
        Ok(UserStats {
            total: 5,
            active: 4,
            admins: 1,
            signups: vec![DailyCount {
                date: today,
                count: 3,
            }],
        })
    });
    let report = service(users, MockSessionRepository::new())
        .stats(&caller(Role::Admin))
        .await
        .unwrap();
    assert_eq!(
        (report.total, report.active, report.inactive, report.admins),
        (5, 4, 1, 1)
    );
    assert_eq!(report.signups.len(), 30);
    assert_eq!(report.signups[0].count, 0);
    assert_eq!(
        report.signups[29],
        DailyCount {
            date: today,
            count: 3
        }
    );
}

#[tokio::test]
async fn me_is_served_from_the_cache_until_a_write_replaces_it() {
    let p = caller(Role::User);
    let mut users = MockUserRepository::new();
    users
        .expect_find_by_id()
        .times(1)
        .returning(|id| Ok(account(id)));
    users.expect_update().times(1).returning(|id, _, _| {
        let mut u = account(id);
        u.username = Username::parse("renamed").unwrap();
        Ok(u)
    });
    let s = service(users, MockSessionRepository::new())
        .with_cache(std::time::Duration::from_secs(60), 100);
    assert_eq!(s.me(&p).await.unwrap().username.as_str(), "ada");
    assert_eq!(
        s.me(&p).await.unwrap().username.as_str(),
        "ada",
        "second read hits the cache"
    );
    let rename = ProfileChanges {
        username: Some(Username::parse("renamed").unwrap()),
        ..Default::default()
    };
    s.update_me(&p, rename).await.unwrap();
    assert_eq!(
        s.me(&p).await.unwrap().username.as_str(),
        "renamed",
        "a write replaces the cached value"
    );
}

#[tokio::test]
async fn a_deleted_account_leaves_the_cache() {
    let admin = caller(Role::Admin);
    let target = Uuid::now_v7();
    let target_principal = Principal {
        user_id: target,
        session_id: Uuid::now_v7(),
        role: Role::User,
    };
    let mut users = MockUserRepository::new();
    let mut seq = mockall::Sequence::new();
    users
        .expect_find_by_id()
        .times(2)
        .in_sequence(&mut seq)
        .returning(|id| Ok(account(id)));
    users
        .expect_delete()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    users
        .expect_find_by_id()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(RepoError::NotFound));
    let mut sessions = MockSessionRepository::new();
    revokes_user(&mut sessions, target);
    let s = service(users, sessions).with_cache(std::time::Duration::from_secs(60), 100);
    s.me(&target_principal).await.unwrap();
    s.delete(&admin, target).await.unwrap();
    assert!(matches!(
        s.me(&target_principal).await,
        Err(ServiceError::Unauthenticated(
            TokenRejection::AccountDisabled
        ))
    ));
}

#[tokio::test]
async fn a_new_address_is_mailed_in_the_update_and_the_same_one_is_not() {
    let p = caller(Role::User);
    let mail = Arc::new(crate::AccountMail::new(crate::AccountSettings::default()).unwrap());
    for (address, mailed) in [("ada@new.example.com", true), ("ada@example.com", false)] {
        let mut users = MockUserRepository::new();
        users.expect_find_by_id().returning(|id| Ok(account(id)));
        users
            .expect_update()
            .withf(move |_, changes, _| {
                changes.verification.as_ref().is_some_and(|v| {
                    v.token.email.as_str() == address && v.mail.payload["to"] == address
                }) == mailed
            })
            .times(1)
            .returning(|id, _, _| Ok(account(id)));
        let service = service(users, MockSessionRepository::new()).with_account_mail(mail.clone());
        let changes = ProfileChanges {
            email: Some(Email::parse(address).unwrap()),
            ..Default::default()
        };
        service.update_me(&p, changes).await.unwrap();
    }
}
