use std::sync::Mutex;

use chrono::{DateTime, Duration};
use strata_domain::accounts::MockAccountTokenRepository;
use strata_domain::auth::MockSessionRepository;
use strata_domain::users::{MockUserRepository, Role, Username};

use super::*;
use crate::RevocationList;

const USER: Uuid = Uuid::from_u128(7);

fn settings(require_verified_email: bool) -> AccountSettings {
    AccountSettings {
        public_url: "https://app.example.com".into(),
        require_verified_email,
        ..AccountSettings::default()
    }
}

struct Parts {
    users: MockUserRepository,
    tokens: MockAccountTokenRepository,
    sessions: MockSessionRepository,
    require_verified_email: bool,
}

impl Parts {
    fn new() -> Self {
        Self {
            users: MockUserRepository::new(),
            tokens: MockAccountTokenRepository::new(),
            sessions: MockSessionRepository::new(),
            require_verified_email: false,
        }
    }

    fn service(self) -> AccountServiceImpl {
        let revoker = Revoker::new(Arc::new(self.sessions), RevocationList::new(), 900);
        AccountServiceImpl::new(
            Arc::new(self.users),
            Arc::new(self.tokens),
            Arc::new(AccountMail::new(settings(self.require_verified_email)).unwrap()),
            PasswordHasher::new(4),
            revoker,
        )
    }
}

fn caller() -> Principal {
    Principal {
        user_id: USER,
        session_id: Uuid::from_u128(8),
        role: Role::User,
    }
}

fn account(verified_at: Option<DateTime<Utc>>) -> User {
    let now = Utc::now();
    User {
        id: USER,
        email: Email::parse("ada@example.com").unwrap(),
        username: Username::parse("ada").unwrap(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified_at: verified_at,
        created_at: now,
        updated_at: now,
    }
}

fn token(purpose: TokenPurpose, expires_in: Duration) -> AccountToken {
    let now = Utc::now();
    AccountToken {
        id: Uuid::now_v7(),
        user_id: USER,
        purpose,
        email: "ada@example.com".into(),
        created_at: now,
        expires_at: now + expires_in,
    }
}

fn consumes(tokens: &mut MockAccountTokenRepository, found: Option<AccountToken>) {
    tokens
        .expect_consume()
        .withf(|_, hash| *hash == hash_refresh_token("secret"))
        .times(1)
        .return_once(move |_, _| Ok(found));
}

fn password() -> Password {
    Password::parse("NewSecret123").unwrap()
}

#[tokio::test]
async fn a_live_verification_token_verifies_the_address_it_was_mailed_to() {
    let mut parts = Parts::new();
    let live = token(TokenPurpose::VerifyEmail, Duration::hours(1));
    parts
        .tokens
        .expect_consume()
        .withf(|purpose, _| *purpose == TokenPurpose::VerifyEmail)
        .times(1)
        .return_once(move |_, _| Ok(Some(live)));
    parts
        .tokens
        .expect_mark_email_verified()
        .withf(|id, email, _| *id == USER && email.as_str() == "ada@example.com")
        .times(1)
        .returning(|_, _, _| Ok(true));
    let forgotten = Arc::new(Mutex::new(Vec::new()));
    let seen = forgotten.clone();
    let service = parts
        .service()
        .forgetting_through(Arc::new(move |id| seen.lock().unwrap().push(id)));
    service.verify_email("secret").await.unwrap();
    assert_eq!(*forgotten.lock().unwrap(), [USER]);
}

#[tokio::test]
async fn an_unknown_used_or_superseded_token_is_invalid() {
    let mut parts = Parts::new();
    consumes(&mut parts.tokens, None);
    parts.tokens.expect_mark_email_verified().never();
    let result = parts.service().verify_email("secret").await;
    assert!(matches!(result, Err(ServiceError::InvalidToken)));
}

#[tokio::test]
async fn an_expired_verification_token_is_invalid() {
    let mut parts = Parts::new();
    let expired = token(TokenPurpose::VerifyEmail, Duration::seconds(-1));
    consumes(&mut parts.tokens, Some(expired));
    parts.tokens.expect_mark_email_verified().never();
    let result = parts.service().verify_email("secret").await;
    assert!(matches!(result, Err(ServiceError::InvalidToken)));
}

#[tokio::test]
async fn a_token_for_an_address_the_account_since_left_is_invalid() {
    let mut parts = Parts::new();
    let live = token(TokenPurpose::VerifyEmail, Duration::hours(1));
    consumes(&mut parts.tokens, Some(live));
    parts
        .tokens
        .expect_mark_email_verified()
        .returning(|_, _, _| Ok(false));
    let result = parts.service().verify_email("secret").await;
    assert!(matches!(result, Err(ServiceError::InvalidToken)));
}

#[tokio::test]
async fn a_resend_issues_a_new_token_that_supersedes_the_old_one() {
    let mut parts = Parts::new();
    parts
        .users
        .expect_find_by_id()
        .returning(|_| Ok(account(None)));
    parts
        .tokens
        .expect_issue()
        .withf(|id, mailed| {
            *id == USER
                && mailed.token.purpose == TokenPurpose::VerifyEmail
                && mailed.token.email.as_str() == "ada@example.com"
                && mailed.token.expires_at - mailed.token.created_at == Duration::hours(48)
        })
        .times(1)
        .returning(|_, _| Ok(()));
    parts
        .service()
        .resend_verification(&caller())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_verified_address_gets_no_new_mail() {
    let mut parts = Parts::new();
    parts
        .users
        .expect_find_by_id()
        .returning(|_| Ok(account(Some(Utc::now()))));
    parts.tokens.expect_issue().never();
    let result = parts.service().resend_verification(&caller()).await;
    assert!(matches!(result, Err(ServiceError::Conflict(_))));
}

/// What the store was asked to do for one reset request.
fn reset_request_for(known: bool) -> (Result<(), ServiceError>, Vec<MailedTokenShape>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let mut parts = Parts::new();
    parts
        .tokens
        .expect_issue_for_address()
        .times(1)
        .returning(move |mailed| {
            seen.lock().unwrap().push(MailedTokenShape::of(&mailed));
            Ok(known)
        });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let email = Email::parse("ada@example.com").unwrap();
    let result = runtime.block_on(parts.service().request_password_reset(&email));
    let calls = calls.lock().unwrap().clone();
    (result, calls)
}

/// A request's token and mail with the random parts left out.
#[derive(Debug, Clone, PartialEq)]
struct MailedTokenShape {
    purpose: TokenPurpose,
    email: String,
    hash_len: usize,
    ttl: Duration,
    mail_kind: String,
    mail_to: serde_json::Value,
}

impl MailedTokenShape {
    fn of(mailed: &strata_domain::accounts::MailedToken) -> Self {
        Self {
            purpose: mailed.token.purpose,
            email: mailed.token.email.as_str().to_owned(),
            hash_len: mailed.token.token_hash.len(),
            ttl: mailed.token.expires_at - mailed.token.created_at,
            mail_kind: mailed.mail.kind.clone(),
            mail_to: mailed.mail.payload["to"].clone(),
        }
    }
}

#[test]
fn a_reset_request_does_the_same_work_and_answers_the_same_for_any_address() {
    let (known, known_calls) = reset_request_for(true);
    let (unknown, unknown_calls) = reset_request_for(false);
    assert!(known.is_ok() && unknown.is_ok());
    // One store call each, with a token and a rendered mail of the same
    // shape: nothing before the store knows whether the address exists.
    assert_eq!(known_calls.len(), 1);
    assert_eq!(known_calls, unknown_calls);
    assert_eq!(known_calls[0].purpose, TokenPurpose::PasswordReset);
    assert_eq!(known_calls[0].hash_len, 64);
    assert_eq!(known_calls[0].ttl, Duration::hours(1));
    assert_eq!(known_calls[0].mail_to, "ada@example.com");
}

#[tokio::test]
async fn a_reset_sets_the_password_and_revokes_every_session() {
    let mut parts = Parts::new();
    let live = token(TokenPurpose::PasswordReset, Duration::minutes(30));
    parts
        .tokens
        .expect_consume()
        .withf(|purpose, _| *purpose == TokenPurpose::PasswordReset)
        .times(1)
        .return_once(move |_, _| Ok(Some(live)));
    parts
        .users
        .expect_set_password()
        .withf(|id, hash, _| {
            *id == USER && bcrypt::verify("NewSecret123", hash.as_str()).unwrap_or(false)
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    crate::users::tests::revokes_user(&mut parts.sessions, USER);
    parts
        .tokens
        .expect_mark_email_verified()
        .times(1)
        .returning(|_, _, _| Ok(true));
    parts
        .service()
        .reset_password("secret", password())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_or_used_reset_token_changes_nothing() {
    for found in [
        Some(token(TokenPurpose::PasswordReset, Duration::seconds(-1))),
        None,
    ] {
        let mut parts = Parts::new();
        consumes(&mut parts.tokens, found);
        parts.users.expect_set_password().never();
        parts.sessions.expect_revoke().never();
        let result = parts.service().reset_password("secret", password()).await;
        assert!(matches!(result, Err(ServiceError::InvalidToken)));
    }
}

#[tokio::test]
async fn a_reset_token_of_a_deleted_account_is_invalid() {
    let mut parts = Parts::new();
    let live = token(TokenPurpose::PasswordReset, Duration::minutes(30));
    consumes(&mut parts.tokens, Some(live));
    parts
        .users
        .expect_set_password()
        .returning(|_, _, _| Err(RepoError::NotFound));
    parts.sessions.expect_revoke().never();
    let result = parts.service().reset_password("secret", password()).await;
    assert!(matches!(result, Err(ServiceError::InvalidToken)));
}

#[tokio::test]
async fn writes_need_no_verification_unless_required() {
    let mut parts = Parts::new();
    parts.users.expect_find_by_id().never();
    parts.service().ensure_may_write(&caller()).await.unwrap();
}

#[tokio::test]
async fn when_required_only_verified_accounts_may_write() {
    for (verified_at, allowed) in [(None, false), (Some(Utc::now()), true)] {
        let mut parts = Parts::new();
        parts.require_verified_email = true;
        parts
            .users
            .expect_find_by_id()
            .times(1)
            .returning(move |_| Ok(account(verified_at)));
        let result = parts.service().ensure_may_write(&caller()).await;
        if allowed {
            assert!(result.is_ok());
        } else {
            assert!(matches!(result, Err(ServiceError::EmailNotVerified)));
        }
    }
}
