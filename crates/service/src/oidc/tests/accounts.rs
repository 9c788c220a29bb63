use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::json;
use strata_domain::oidc::{FlowMode, LoginCode, Unlinked};
use strata_domain::users::{PasswordHash, Role, UserCredentials};
use uuid::Uuid;

use super::*;
use crate::ServiceError;
use crate::oidc::{CallbackOutcome, OidcService};
use crate::tokens::hash_refresh_token;

#[tokio::test]
async fn a_known_identity_signs_in_its_own_account_without_looking_at_the_address() {
    let mut parts = Parts::new().redeeming(FlowMode::Api, signed(&claims(), "k1"));
    parts
        .store
        .expect_find_identity()
        .withf(|issuer, subject| issuer == ISSUER && subject == "subject-1")
        .returning(|_, _| Ok(Some(identity(USER))));
    parts
        .users
        .expect_find_by_id()
        .returning(|_| Ok(account(true)));
    parts.users.expect_find_credentials().never();
    let outcome = parts.service().callback("idp", callback()).await.unwrap();
    let CallbackOutcome::SignedIn { user, created, .. } = outcome else {
        panic!("not signed in");
    };
    assert_eq!((user.id, created), (USER, false));
}

#[tokio::test]
async fn a_new_identity_with_a_new_address_creates_a_passwordless_account() {
    for verified in [true, false] {
        let mut token = claims();
        token["email_verified"] = json!(if verified { "true" } else { "false" });
        let mut parts = Parts::new().redeeming(FlowMode::Api, signed(&token, "k1"));
        parts
            .store
            .expect_find_identity()
            .returning(|_, _| Ok(None));
        parts
            .users
            .expect_find_credentials()
            .returning(|_| Ok(None));
        parts
            .store
            .expect_create_account()
            .withf(move |user, identity| {
                !user.password_hash.is_set()
                    && user.email_verified_at.is_some() == verified
                    && user.username.as_str().starts_with("ada-")
                    && identity.subject == "subject-1"
                    && identity.issuer == ISSUER
            })
            .returning(|user, _| {
                let mut created = account(user.email_verified_at.is_some());
                created.id = user.id;
                Ok(created)
            });
        let outcome = parts.service().callback("idp", callback()).await.unwrap();
        assert!(matches!(
            outcome,
            CallbackOutcome::SignedIn { created: true, .. }
        ));
    }
}

/// An account holds the address the provider reports: whether the identity
/// is linked to it, for (provider verified, account verified, setting).
async fn address_collision(provider: bool, local: bool, setting: bool) -> Result<(), ServiceError> {
    let mut token = claims();
    token["email_verified"] = json!(provider);
    let mut parts = Parts::new().redeeming(FlowMode::Api, signed(&token, "k1"));
    parts.settings.link_verified_email = setting;
    parts
        .store
        .expect_find_identity()
        .returning(|_, _| Ok(None));
    parts.users.expect_find_credentials().returning(move |_| {
        Ok(Some(UserCredentials {
            user: account(local),
            password_hash: PasswordHash::new("$2b$04$x".into()),
        }))
    });
    parts.store.expect_identities().returning(|_| Ok(vec![]));
    parts
        .store
        .expect_link()
        .withf(|user, _| *user == USER)
        .returning(|user, identity| Ok(identity.linked_to(user)));
    parts.store.expect_create_account().never();
    parts
        .service()
        .callback("idp", callback())
        .await
        .map(|outcome| {
            assert!(matches!(
                outcome,
                CallbackOutcome::SignedIn { created: false, .. }
            ))
        })
}

#[tokio::test]
async fn an_address_collision_links_only_when_both_sides_verified_and_the_operator_allows() {
    assert!(address_collision(true, true, true).await.is_ok());
    for (provider, local, setting) in [
        (true, true, false),
        (false, true, true),
        (true, false, true),
        (false, false, false),
    ] {
        let err = address_collision(provider, local, setting).await;
        assert!(
            matches!(err, Err(ServiceError::OidcLinkRequired)),
            "{provider} {local} {setting}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_linking_flow_links_to_the_caller_and_refuses_an_identity_held_elsewhere() {
    for (holder, ok) in [
        (None, true),
        (Some(USER), true),
        (Some(Uuid::now_v7()), false),
    ] {
        let mut parts = Parts::new()
            .started(FlowMode::Api, Some(USER))
            .answering(signed(&claims(), "k1"));
        parts
            .idp
            .expect_signing_keys()
            .returning(|_| Ok(vec![key("k1")]));
        parts
            .store
            .expect_find_identity()
            .returning(move |_, _| Ok(holder.map(identity)));
        parts.store.expect_identities().returning(|_| Ok(vec![]));
        parts
            .store
            .expect_link()
            .returning(|user, identity| Ok(identity.linked_to(user)));
        let outcome = parts.service().callback("idp", callback()).await;
        match outcome {
            Ok(CallbackOutcome::Linked(linked)) if ok => assert_eq!(linked.user_id, USER),
            Err(ServiceError::IdentityTaken) if !ok => {}
            other => panic!("{holder:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_browser_flow_gets_a_one_time_code_in_the_fragment_never_tokens() {
    let mut parts = Parts::new().redeeming(FlowMode::Browser, signed(&claims(), "k1"));
    parts = parts.known();
    let saved = Arc::new(Mutex::new(None));
    let keep = saved.clone();
    parts.store.expect_save_code().returning(move |code| {
        *keep.lock().unwrap() = Some(code);
        Ok(())
    });
    let outcome = parts.service().callback("idp", callback()).await.unwrap();
    let CallbackOutcome::Redirect(url) = outcome else {
        panic!("not a redirect");
    };
    let code = url
        .strip_prefix("https://app.example.com/signed-in#code=")
        .unwrap();
    let saved: LoginCode = saved.lock().unwrap().clone().unwrap();
    assert_eq!(saved.code_hash, hash_refresh_token(code));
    assert_eq!(saved.user_id, USER);
}

#[tokio::test]
async fn a_login_code_is_single_use_and_short_lived() {
    let mut parts = Parts::new();
    let now = Utc::now();
    let mut codes = vec![
        None,
        Some(LoginCode {
            code_hash: String::new(),
            user_id: USER,
            created_at: now,
            expires_at: now - Duration::seconds(1),
        }),
        Some(LoginCode {
            code_hash: String::new(),
            user_id: USER,
            created_at: now,
            expires_at: now + Duration::seconds(60),
        }),
    ];
    parts
        .store
        .expect_take_code()
        .returning(move |_| Ok(codes.pop().flatten()));
    parts
        .users
        .expect_find_by_id()
        .returning(|_| Ok(account(true)));
    let service = parts.service();
    assert!(service.exchange("code").await.is_ok());
    assert!(matches!(
        service.exchange("code").await,
        Err(ServiceError::InvalidToken)
    ));
    assert!(matches!(
        service.exchange("code").await,
        Err(ServiceError::InvalidToken)
    ));
}

#[tokio::test]
async fn unlinking_the_last_way_in_is_refused() {
    for (answer, ok) in [
        (Unlinked::Removed, true),
        (Unlinked::NotFound, false),
        (Unlinked::LastSignInMethod, false),
    ] {
        let mut parts = Parts::new();
        parts
            .store
            .expect_unlink()
            .returning(move |_, _| Ok(answer));
        let caller = crate::test_support::caller(Role::User);
        let result = parts.service().unlink(&caller, Uuid::now_v7()).await;
        match (answer, result) {
            (_, Ok(())) if ok => {}
            (Unlinked::NotFound, Err(ServiceError::NotFound))
            | (Unlinked::LastSignInMethod, Err(ServiceError::LastSignInMethod)) => {}
            (answer, other) => panic!("{answer:?}: {other:?}"),
        }
    }
}
