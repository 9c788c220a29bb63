use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::Digest as _;
use strata_domain::auth::MockSessionRepository;
use strata_domain::oidc::{
    FlowMode, Identity, KeyMaterial, LoginCode, MockIdentityProvider, MockOidcRepository,
    PendingLogin, ProviderError, Unlinked, VerificationKey,
};
use strata_domain::users::{
    Email, MockUserRepository, PasswordHash, Role, User, UserCredentials, Username,
};
use uuid::Uuid;

use super::*;
use crate::error::OidcRejection;
use crate::tokens::hash_refresh_token;

const ISSUER: &str = "https://idp.example.com";
const CLIENT: &str = "strata-client";
const NONCE: &str = "the-nonce";
const STATE: &str = "the-state";
const BINDING: &str = "the-binding";
const PEM: &str = include_str!("test_signing_key.pem");
const KEY_X: &str = "PyktQyZwc7tWkOY3dCPvb3wBvpnqYnkzCZYZd-1P9xU";
const KEY_Y: &str = "is9Z5lMuLI6kmYYyx4d_JG_o4-8LjnklD2Zc748LDDc";
const USER: Uuid = Uuid::from_u128(7);

fn key(kid: &str) -> VerificationKey {
    VerificationKey {
        kid: Some(kid.into()),
        alg: Some("ES256".into()),
        material: KeyMaterial::Ec {
            curve: "P-256".into(),
            x: KEY_X.into(),
            y: KEY_Y.into(),
        },
    }
}

fn claims() -> Value {
    let now = Utc::now().timestamp();
    json!({"iss": ISSUER, "aud": CLIENT, "sub": "subject-1", "iat": now, "exp": now + 300,
           "nonce": NONCE, "email": "ada@example.com", "email_verified": true, "name": "Ada"})
}

fn signed(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    // PKCS#8 DER inside the PEM armour (the crate's PEM parser is a
    // feature Strata does not build).
    let body: String = PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let key = EncodingKey::from_ec_der(&der);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn unsigned(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        part(claims)
    )
}

fn account(verified: bool) -> User {
    let now = Utc::now();
    User {
        id: USER,
        email: Email::parse("ada@example.com").unwrap(),
        username: Username::parse("ada").unwrap(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified_at: verified.then_some(now),
        created_at: now,
        updated_at: now,
    }
}

fn pending(mode: FlowMode, expires_at: DateTime<Utc>, link: Option<Uuid>) -> PendingLogin {
    PendingLogin {
        id: Uuid::now_v7(),
        state_hash: hash_refresh_token(STATE),
        binding_hash: hash_refresh_token(BINDING),
        provider: "idp".into(),
        nonce: NONCE.into(),
        pkce_verifier: "verifier".into(),
        mode,
        link_user_id: link,
        created_at: Utc::now(),
        expires_at,
    }
}

fn identity(user_id: Uuid) -> Identity {
    Identity {
        id: Uuid::now_v7(),
        user_id,
        provider: "idp".into(),
        issuer: ISSUER.into(),
        subject: "subject-1".into(),
        email: None,
        created_at: Utc::now(),
    }
}

fn callback() -> Callback {
    Callback {
        state: STATE.into(),
        code: Some("code".into()),
        error: None,
        binding: Some(BINDING.into()),
    }
}

struct Parts {
    idp: MockIdentityProvider,
    store: MockOidcRepository,
    users: MockUserRepository,
    sessions: MockSessionRepository,
    settings: OidcSettings,
}

impl Parts {
    fn new() -> Self {
        let mut sessions = MockSessionRepository::new();
        sessions.expect_create().returning(|_, _| Ok(()));
        Self {
            idp: MockIdentityProvider::new(),
            store: MockOidcRepository::new(),
            users: MockUserRepository::new(),
            sessions,
            settings: OidcSettings {
                frontend_redirect: Some("https://app.example.com/signed-in".into()),
                ..OidcSettings::default()
            },
        }
    }

    /// A pending login of `mode` that the state redeems, and a provider
    /// whose token endpoint answers `id_token` and publishes key `k1`.
    fn redeeming(self, mode: FlowMode, id_token: String) -> Self {
        let mut parts = self.started(mode, None).answering(id_token);
        parts
            .idp
            .expect_signing_keys()
            .returning(|_| Ok(vec![key("k1")]));
        parts
    }

    /// A live pending login of `mode` (linking to `link`) behind the state.
    fn started(mut self, mode: FlowMode, link: Option<Uuid>) -> Self {
        let login = pending(mode, Utc::now() + Duration::minutes(5), link);
        self.store
            .expect_take_pending()
            .returning(move |_| Ok(Some(login.clone())));
        self
    }

    /// A token endpoint that answers `id_token`.
    fn answering(mut self, id_token: String) -> Self {
        self.idp
            .expect_exchange_code()
            .returning(move |_, _| Ok(id_token.clone()));
        self
    }

    fn service(self) -> OidcServiceImpl {
        let provider = OidcProvider {
            name: "idp".into(),
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
            client: Arc::new(self.idp),
        };
        OidcServiceImpl::new(
            vec![provider],
            Arc::new(self.users),
            Arc::new(self.store),
            Arc::new(self.sessions),
            Arc::new(TokenCodec::new(b"secret", "strata", "strata-api", 900)),
            AuthConfig {
                access_ttl_secs: 900,
                refresh_ttl_secs: 3600,
            },
            self.settings,
        )
    }
}

async fn rejected_with(token: String) -> ServiceError {
    Parts::new()
        .redeeming(FlowMode::Api, token)
        .service()
        .callback("idp", callback())
        .await
        .unwrap_err()
}

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
    parts
        .store
        .expect_find_identity()
        .returning(|_, _| Ok(Some(identity(USER))));
    parts
        .users
        .expect_find_by_id()
        .returning(|_| Ok(account(true)));
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
    parts
        .store
        .expect_find_identity()
        .returning(|_, _| Ok(Some(identity(USER))));
    parts
        .users
        .expect_find_by_id()
        .returning(|_| Ok(account(true)));
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
