//! The service's rules with every port mocked: `flow` (states, cookies and
//! ID tokens) and `accounts` (which account an identity opens, linking,
//! codes, unlinking).

mod accounts;
mod flow;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use strata_domain::auth::MockSessionRepository;
use strata_domain::oidc::{
    FlowMode, Identity, KeyMaterial, MockIdentityProvider, MockOidcRepository, PendingLogin,
    VerificationKey,
};
use strata_domain::users::{Email, MockUserRepository, Role, User, Username};
use uuid::Uuid;

use super::*;
use crate::tokens::hash_refresh_token;

pub(super) const ISSUER: &str = "https://idp.example.com";
pub(super) const CLIENT: &str = "strata-client";
pub(super) const NONCE: &str = "the-nonce";
pub(super) const STATE: &str = "the-state";
pub(super) const BINDING: &str = "the-binding";
pub(super) const PEM: &str = include_str!("../test_signing_key.pem");
pub(super) const KEY_X: &str = "PyktQyZwc7tWkOY3dCPvb3wBvpnqYnkzCZYZd-1P9xU";
pub(super) const KEY_Y: &str = "is9Z5lMuLI6kmYYyx4d_JG_o4-8LjnklD2Zc748LDDc";
pub(super) const USER: Uuid = Uuid::from_u128(7);

pub(super) fn key(kid: &str) -> VerificationKey {
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

pub(super) fn claims() -> Value {
    let now = Utc::now().timestamp();
    json!({"iss": ISSUER, "aud": CLIENT, "sub": "subject-1", "iat": now, "exp": now + 300,
           "nonce": NONCE, "email": "ada@example.com", "email_verified": true, "name": "Ada"})
}

pub(super) fn signed(claims: &Value, kid: &str) -> String {
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

pub(super) fn unsigned(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        part(claims)
    )
}

pub(super) fn account(verified: bool) -> User {
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

pub(super) fn pending(
    mode: FlowMode,
    expires_at: DateTime<Utc>,
    link: Option<Uuid>,
) -> PendingLogin {
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

pub(super) fn identity(user_id: Uuid) -> Identity {
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

pub(super) fn callback() -> Callback {
    Callback {
        state: STATE.into(),
        code: Some("code".into()),
        error: None,
        binding: Some(BINDING.into()),
    }
}

pub(super) struct Parts {
    pub(super) idp: MockIdentityProvider,
    pub(super) store: MockOidcRepository,
    pub(super) users: MockUserRepository,
    pub(super) sessions: MockSessionRepository,
    pub(super) settings: OidcSettings,
}

impl Parts {
    pub(super) fn new() -> Self {
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
    pub(super) fn redeeming(self, mode: FlowMode, id_token: String) -> Self {
        let mut parts = self.started(mode, None).answering(id_token);
        parts
            .idp
            .expect_signing_keys()
            .returning(|_| Ok(vec![key("k1")]));
        parts
    }

    /// A live pending login of `mode` (linking to `link`) behind the state.
    pub(super) fn started(mut self, mode: FlowMode, link: Option<Uuid>) -> Self {
        let login = pending(mode, Utc::now() + Duration::minutes(5), link);
        self.store
            .expect_take_pending()
            .returning(move |_| Ok(Some(login.clone())));
        self
    }

    /// The identity is linked to [`USER`]'s verified account.
    pub(super) fn known(mut self) -> Self {
        self.store
            .expect_find_identity()
            .returning(|_, _| Ok(Some(identity(USER))));
        self.users
            .expect_find_by_id()
            .returning(|_| Ok(account(true)));
        self
    }

    /// A token endpoint that answers `id_token`.
    pub(super) fn answering(mut self, id_token: String) -> Self {
        self.idp
            .expect_exchange_code()
            .returning(move |_, _| Ok(id_token.clone()));
        self
    }

    pub(super) fn service(self) -> OidcServiceImpl {
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

pub(super) async fn rejected_with(token: String) -> ServiceError {
    Parts::new()
        .redeeming(FlowMode::Api, token)
        .service()
        .callback("idp", callback())
        .await
        .unwrap_err()
}
