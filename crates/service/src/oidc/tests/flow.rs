use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use sha2::Digest as _;
use strata_domain::oidc::{FlowMode, ProviderError};

use super::*;
use crate::ServiceError;
use crate::error::OidcRejection;
use crate::oidc::{CallbackOutcome, OidcService};
use crate::tokens::hash_refresh_token;

#[tokio::test]
async fn authorize_stores_hashes_and_an_s256_challenge_of_the_stored_verifier() {
    let mut parts = Parts::new();
    let challenge = Arc::new(Mutex::new(String::new()));
    let seen = challenge.clone();
    parts
        .idp
        .expect_authorization_url()
        .returning(move |state, nonce, challenge| {
            *seen.lock().unwrap() = challenge.to_owned();
            Ok(format!("{ISSUER}/auth?state={state}&nonce={nonce}"))
        });
    let stored = Arc::new(Mutex::new(None));
    let keep = stored.clone();
    parts.store.expect_save_pending().returning(move |login| {
        *keep.lock().unwrap() = Some(login);
        Ok(())
    });
    let auth = parts
        .service()
        .authorize("idp", FlowMode::Api, None)
        .await
        .unwrap();
    let login = stored.lock().unwrap().clone().unwrap();
    assert_eq!(login.binding_hash, hash_refresh_token(&auth.binding));
    assert!(auth.url.contains(&format!("nonce={}", login.nonce)));
    let state = auth.url.split("state=").nth(1).unwrap().split('&').next();
    assert_eq!(login.state_hash, hash_refresh_token(state.unwrap()));
    let expected = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(login.pkce_verifier.as_bytes()));
    assert_eq!(*challenge.lock().unwrap(), expected);
    let ttl = login.expires_at - login.created_at;
    assert_eq!(ttl, Duration::minutes(10));
}

#[tokio::test]
async fn an_unknown_provider_is_not_found_and_a_browser_flow_needs_a_front_end() {
    let service = Parts::new().service();
    let err = service.authorize("nope", FlowMode::Api, None).await;
    assert!(matches!(err, Err(ServiceError::NotFound)));
    let mut parts = Parts::new();
    parts.settings.frontend_redirect = None;
    let err = parts
        .service()
        .authorize("idp", FlowMode::Browser, None)
        .await;
    assert!(matches!(err, Err(ServiceError::Validation(_))), "{err:?}");
}

#[tokio::test]
async fn a_replayed_or_forged_state_is_refused_before_the_provider_is_asked() {
    let mut parts = Parts::new();
    parts.store.expect_take_pending().returning(|_| Ok(None));
    parts.idp.expect_exchange_code().never();
    let err = parts.service().callback("idp", callback()).await;
    assert!(matches!(err, Err(ServiceError::OidcState)), "{err:?}");
}

#[tokio::test]
async fn a_missing_or_foreign_cookie_an_expired_state_or_another_provider_are_refused() {
    let cases: [(Option<&str>, Duration, &str); 4] = [
        (None, Duration::minutes(5), "idp"),
        (Some("another-browser"), Duration::minutes(5), "idp"),
        (Some(BINDING), Duration::seconds(-1), "idp"),
        (Some(BINDING), Duration::minutes(5), "other"),
    ];
    for (binding, lifetime, provider) in cases {
        let mut parts = Parts::new();
        let mut login = pending(FlowMode::Api, Utc::now() + lifetime, None);
        login.provider = provider.into();
        parts
            .store
            .expect_take_pending()
            .returning(move |_| Ok(Some(login.clone())));
        parts.idp.expect_exchange_code().never();
        let mut call = callback();
        call.binding = binding.map(str::to_owned);
        let err = parts.service().callback("idp", call).await;
        assert!(matches!(err, Err(ServiceError::OidcState)), "{err:?}");
    }
}

#[tokio::test]
async fn a_wrong_nonce_an_expired_token_and_a_foreign_audience_or_issuer_are_refused() {
    let mut wrong_nonce = claims();
    wrong_nonce["nonce"] = json!("someone-elses");
    let mut no_nonce = claims();
    no_nonce.as_object_mut().unwrap().remove("nonce");
    let mut expired = claims();
    expired["exp"] = json!(Utc::now().timestamp() - 3600);
    let mut audience = claims();
    audience["aud"] = json!("another-client");
    let mut issuer = claims();
    issuer["iss"] = json!("https://evil.example.com");
    let mut azp = claims();
    azp["aud"] = json!([CLIENT, "another-client"]);
    let cases = [
        (wrong_nonce, OidcRejection::Nonce),
        (no_nonce, OidcRejection::Nonce),
        (expired, OidcRejection::Expired),
        (audience, OidcRejection::Invalid),
        (issuer, OidcRejection::Invalid),
        (azp, OidcRejection::Invalid),
    ];
    for (claims, why) in cases {
        let err = rejected_with(signed(&claims, "k1")).await;
        assert!(
            matches!(err, ServiceError::OidcRejected(got) if got == why),
            "{why:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn alg_none_hmac_and_a_tampered_signature_are_refused() {
    let err = rejected_with(unsigned(&claims())).await;
    assert!(
        matches!(err, ServiceError::OidcRejected(OidcRejection::Algorithm)),
        "{err:?}"
    );
    // HS256 keyed with what an attacker might know (the client id).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let hmac = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(CLIENT.as_bytes()),
    )
    .unwrap();
    let err = rejected_with(hmac).await;
    assert!(
        matches!(err, ServiceError::OidcRejected(OidcRejection::Algorithm)),
        "{err:?}"
    );
    let token = signed(&claims(), "k1");
    let (head, _) = token.rsplit_once('.').unwrap();
    let other = signed(&json!({"sub": "x"}), "k1");
    let forged = format!("{head}.{}", other.rsplit_once('.').unwrap().1);
    let err = rejected_with(forged).await;
    assert!(
        matches!(err, ServiceError::OidcRejected(OidcRejection::Invalid)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_key_id_refetches_the_keys_once_and_then_gives_up() {
    // Rotated: the cached set lacks k2, the refetched one has it.
    let mut parts = Parts::new()
        .started(FlowMode::Api, None)
        .answering(signed(&claims(), "k2"));
    parts
        .idp
        .expect_signing_keys()
        .withf(|refresh| !refresh)
        .times(1)
        .returning(|_| Ok(vec![key("k1")]));
    parts
        .idp
        .expect_signing_keys()
        .withf(|refresh| *refresh)
        .times(1)
        .returning(|_| Ok(vec![key("k1"), key("k2")]));
    parts = parts.known();
    let outcome = parts.service().callback("idp", callback()).await.unwrap();
    assert!(matches!(
        outcome,
        CallbackOutcome::SignedIn { created: false, .. }
    ));

    let err = rejected_with(signed(&claims(), "k9")).await;
    assert!(
        matches!(err, ServiceError::OidcRejected(OidcRejection::UnknownKey)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_code_is_a_rejection_and_an_unreachable_provider_is_unavailable() {
    for (error, refused) in [
        (ProviderError::Refused("invalid_grant".into()), true),
        (
            ProviderError::unavailable("down", "connection refused"),
            false,
        ),
    ] {
        let mut parts = Parts::new().started(FlowMode::Api, None);
        let error = Mutex::new(Some(error));
        parts
            .idp
            .expect_exchange_code()
            .returning(move |_, _| Err(error.lock().unwrap().take().unwrap()));
        let err = parts
            .service()
            .callback("idp", callback())
            .await
            .unwrap_err();
        match err {
            ServiceError::OidcRejected(OidcRejection::CodeRefused) if refused => {}
            ServiceError::ProviderUnavailable(_) if !refused => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_provider_error_on_the_redirect_is_a_rejection() {
    let mut parts = Parts::new().started(FlowMode::Api, None);
    parts.idp.expect_exchange_code().never();
    let mut call = callback();
    call.error = Some("access_denied".into());
    call.code = None;
    let err = parts.service().callback("idp", call).await;
    assert!(matches!(
        err,
        Err(ServiceError::OidcRejected(OidcRejection::Denied))
    ));
}
