//! The two legs of a login: starting it, and completing it when the
//! provider redirects back.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use sha2::{Digest, Sha256};
use strata_domain::auth::Principal;
use strata_domain::oidc::{
    FlowMode, Identity, LoginCode, MAX_IDENTITIES, NewIdentity, PendingLogin, ProviderError,
};
use strata_domain::users::{Email, FullName, NewUser, PasswordHash, Role, User, Username};
use strata_domain::validation::Violation;
use strata_domain::{RepoError, UniqueField, ValidationErrors};
use uuid::Uuid;

use super::id_token::{self, Expected, VerifiedClaims};
use super::{Authorization, Callback, CallbackOutcome, OidcProvider, OidcServiceImpl, gone};
use crate::ServiceError;
use crate::error::OidcRejection;
use crate::tokens::{RefreshSecret, constant_time_eq, hash_refresh_token};

/// Attempts at a free generated username before giving up.
const USERNAME_ATTEMPTS: usize = 4;

fn provider_error(err: ProviderError) -> ServiceError {
    match err {
        ProviderError::Refused(_) => ServiceError::OidcRejected(OidcRejection::CodeRefused),
        err @ ProviderError::Unavailable { .. } => ServiceError::ProviderUnavailable(Box::new(err)),
    }
}

pub(super) async fn authorize(
    service: &OidcServiceImpl,
    provider: &OidcProvider,
    mode: FlowMode,
    linking: Option<Principal>,
) -> Result<Authorization, ServiceError> {
    if mode == FlowMode::Browser && service.settings.frontend_redirect.is_none() {
        return Err(ValidationErrors::single(
            "mode",
            Violation::new(
                "enum",
                "browser flows need oidc.frontend_redirect to be configured",
            ),
        )
        .into());
    }
    let state = RefreshSecret::generate();
    let binding = RefreshSecret::generate();
    let nonce = RefreshSecret::generate().value;
    // 43 base64url characters: a valid RFC 7636 verifier.
    let verifier = RefreshSecret::generate().value;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = provider
        .client
        .authorization_url(&state.value, &nonce, &challenge)
        .await
        .map_err(provider_error)?;
    let now = Utc::now();
    let saved = service
        .store
        .save_pending(PendingLogin {
            id: Uuid::now_v7(),
            state_hash: state.hash,
            binding_hash: binding.hash,
            provider: provider.name.clone(),
            nonce,
            pkce_verifier: verifier,
            mode,
            link_user_id: linking.map(|caller| caller.user_id),
            created_at: now,
            expires_at: now + service.settings.pending_ttl,
        })
        .await;
    match saved {
        Ok(()) => Ok(Authorization {
            url,
            binding: binding.value,
        }),
        Err(RepoError::NotFound) => Err(gone()),
        Err(err) => Err(err.into()),
    }
}

pub(super) async fn callback(
    service: &OidcServiceImpl,
    provider: &OidcProvider,
    callback: Callback,
) -> Result<CallbackOutcome, ServiceError> {
    // Consumed before anything else is judged: a state is good for one
    // attempt, whatever becomes of it.
    let pending = service
        .store
        .take_pending(&hash_refresh_token(&callback.state))
        .await?
        .ok_or(ServiceError::OidcState)?;
    let bound = callback.binding.as_deref().is_some_and(|binding| {
        constant_time_eq(
            hash_refresh_token(binding).as_bytes(),
            pending.binding_hash.as_bytes(),
        )
    });
    if !bound || pending.is_expired(Utc::now()) || pending.provider != provider.name {
        return Err(ServiceError::OidcState);
    }
    if callback.error.is_some() {
        return Err(ServiceError::OidcRejected(OidcRejection::Denied));
    }
    let code = callback.code.ok_or(ServiceError::OidcState)?;
    let raw = provider
        .client
        .exchange_code(&code, &pending.pkce_verifier)
        .await
        .map_err(provider_error)?;
    let claims = id_token::verify(
        provider.client.as_ref(),
        &raw,
        Expected {
            issuer: &provider.issuer,
            client_id: &provider.client_id,
            nonce: &pending.nonce,
            leeway_secs: service.settings.leeway_secs,
        },
    )
    .await?;
    let identity = NewIdentity {
        id: Uuid::now_v7(),
        provider: provider.name.clone(),
        issuer: provider.issuer.clone(),
        subject: claims.subject.clone(),
        email: claims.email.clone(),
        created_at: Utc::now(),
    };
    if let Some(user_id) = pending.link_user_id {
        let linked = link(service, user_id, identity).await?;
        return Ok(match pending.mode {
            FlowMode::Api => CallbackOutcome::Linked(linked),
            FlowMode::Browser => {
                CallbackOutcome::Redirect(frontend(service, &format!("linked={}", linked.id)))
            }
        });
    }
    let (user, created) = account_for(service, identity, &claims).await?;
    let tokens = service.sign_in(&user).await?;
    match pending.mode {
        FlowMode::Api => Ok(CallbackOutcome::SignedIn {
            user,
            tokens,
            created,
        }),
        FlowMode::Browser => {
            // The browser gets a one-time code, never the tokens, in a URL.
            let code = RefreshSecret::generate();
            let now = Utc::now();
            service
                .store
                .save_code(LoginCode {
                    code_hash: code.hash,
                    user_id: user.id,
                    created_at: now,
                    expires_at: now + service.settings.code_ttl,
                })
                .await?;
            drop(tokens);
            Ok(CallbackOutcome::Redirect(frontend(
                service,
                &format!("code={}", code.value),
            )))
        }
    }
}

fn frontend(service: &OidcServiceImpl, fragment: &str) -> String {
    let base = service.settings.frontend_redirect.as_deref().unwrap_or("/");
    format!("{base}#{fragment}")
}

/// Links `identity` to the account that started the flow. Linking the same
/// identity twice is harmless; one another account holds is refused.
async fn link(
    service: &OidcServiceImpl,
    user_id: Uuid,
    identity: NewIdentity,
) -> Result<Identity, ServiceError> {
    if let Some(existing) = service
        .store
        .find_identity(&identity.issuer, &identity.subject)
        .await?
    {
        return if existing.user_id == user_id {
            Ok(existing)
        } else {
            Err(ServiceError::IdentityTaken)
        };
    }
    if service.store.identities(user_id).await?.len() >= MAX_IDENTITIES {
        return Err(ServiceError::Conflict(
            "The account has as many identities as it may have.",
        ));
    }
    match service.store.link(user_id, identity).await {
        Ok(identity) => Ok(identity),
        Err(RepoError::Conflict(_)) => Err(ServiceError::IdentityTaken),
        Err(RepoError::NotFound) => Err(gone()),
        Err(err) => Err(err.into()),
    }
}

/// The account an identity signs in to: its own, an existing one it may
/// be linked to by address, or a new one. `true` for a new account.
async fn account_for(
    service: &OidcServiceImpl,
    identity: NewIdentity,
    claims: &VerifiedClaims,
) -> Result<(User, bool), ServiceError> {
    if let Some(known) = service
        .store
        .find_identity(&identity.issuer, &identity.subject)
        .await?
    {
        let user = service.users.find_by_id(known.user_id).await?;
        return Ok((user, false));
    }
    let email = claims
        .email
        .as_deref()
        .and_then(|raw| Email::parse(raw).ok())
        .ok_or(ServiceError::OidcRejected(OidcRejection::NoEmail))?;
    if let Some(existing) = service.users.find_credentials(email.as_str()).await? {
        let user = existing.user;
        // Both sides must have proven the address, and the operator must
        // have opted in: otherwise whoever controls a provider account that
        // merely claims the address would take the account over.
        if claims.email_verified && user.email_verified() && service.settings.link_verified_email {
            link(service, user.id, identity).await?;
            return Ok((user, false));
        }
        return Err(ServiceError::OidcLinkRequired);
    }
    create(service, identity, claims, email)
        .await
        .map(|user| (user, true))
}

async fn create(
    service: &OidcServiceImpl,
    identity: NewIdentity,
    claims: &VerifiedClaims,
    email: Email,
) -> Result<User, ServiceError> {
    let now = Utc::now();
    let full_name = claims
        .name
        .as_deref()
        .and_then(|name| FullName::parse(name).ok().flatten());
    for _ in 0..USERNAME_ATTEMPTS {
        let username = generated_username(&email)?;
        let verification = match (&service.mail, claims.email_verified) {
            (Some(mail), false) => Some(mail.verification(&username, &email, now)?),
            _ => None,
        };
        let user = NewUser {
            id: Uuid::now_v7(),
            email: email.clone(),
            username,
            full_name: full_name.clone(),
            password_hash: PasswordHash::none(),
            role: Role::User,
            created_at: now,
            email_verified_at: claims.email_verified.then_some(now),
            verification,
        };
        match service.store.create_account(user, identity.clone()).await {
            Ok(user) => return Ok(user),
            Err(RepoError::Conflict(UniqueField::Username)) => {}
            // Another request created the account (or linked the identity)
            // between the look-ups and this insert.
            Err(RepoError::Conflict(UniqueField::Email)) => {
                return Err(ServiceError::OidcLinkRequired);
            }
            Err(RepoError::Conflict(UniqueField::Other)) => {
                return Err(ServiceError::IdentityTaken);
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ServiceError::Conflict(
        "No free username could be generated; try again.",
    ))
}

/// `ada-3f9c2a` from `ada.lovelace@…`: the address's local part reduced to
/// the username alphabet, and a random suffix. Users can rename later.
fn generated_username(email: &Email) -> Result<Username, ServiceError> {
    let local = email.as_str().split('@').next().unwrap_or_default();
    let mut stem: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(24)
        .collect();
    if stem.len() < 3 {
        stem = "user".into();
    }
    let suffix = &RefreshSecret::generate().hash[..6];
    Username::parse(&format!("{stem}-{suffix}"))
        .map_err(|v| ServiceError::internal("Failed to generate a username", v.message))
}
