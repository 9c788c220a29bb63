//! Accounts: the `User` entity, the value objects its fields are made of, and
//! the repository port that stores it.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::accounts::MailedToken;
use crate::idempotency::Completion;
use crate::page::{Direction, Page, PageRequest, Sort, SortField};
use crate::text::{self, Lines};
use crate::validation::Violation;

const EMAIL_MAX: usize = 254;
const USERNAME_MIN: usize = 3;
const USERNAME_MAX: usize = 32;
const PASSWORD_MIN: usize = 8;
const PASSWORD_MAX: usize = 128;
const FULL_NAME_MAX: usize = 100;

/// An e-mail address, trimmed and lower-cased so that uniqueness is
/// case-insensitive by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// A [`Violation`] with code `email` or `length` when `raw` is not a
    /// plausible address of at most 254 characters.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        text::check(raw, Lines::Single)?;
        // Bounded as sent, like every field, so the documented `maxLength`
        // is exactly the rule.
        if raw.chars().count() > EMAIL_MAX {
            return Err(Violation::new(
                "length",
                format!("must be at most {EMAIL_MAX} characters"),
            ));
        }
        let value = raw.trim().to_lowercase();
        if !is_plausible_email(&value) {
            return Err(Violation::new("email", "must be a valid e-mail address"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deliberately a shape check, not RFC 5322: the only real proof of an
/// address is mail arriving at it.
fn is_plausible_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        && domain.contains('.')
        && labels_ok
}

/// A username: 3..=32 of `[A-Za-z0-9_-]`. Case is preserved for display;
/// uniqueness compares [`Username::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// # Errors
    /// A [`Violation`] with code `length` or `charset`.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        text::check(raw, Lines::Single)?;
        let len = raw.chars().count();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            return Err(Violation::new(
                "length",
                format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters"),
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Violation::new(
                "charset",
                "may contain only letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that uniqueness is enforced on.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A display name of at most 100 characters; blank means "none".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Returns `None` for a blank name.
    ///
    /// # Errors
    /// A [`Violation`] with code `length` or [`text::CONTROL_CHARACTER`].
    pub fn parse(raw: &str) -> Result<Option<Self>, Violation> {
        text::check(raw, Lines::Single)?;
        let value = raw.trim();
        if raw.chars().count() > FULL_NAME_MAX {
            return Err(Violation::new(
                "length",
                format!("must be at most {FULL_NAME_MAX} characters"),
            ));
        }
        Ok((!value.is_empty()).then(|| Self(value.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which new passwords an API accepts. Strata's own API asks for character
/// classes; an adapter whose published contract says otherwise (Conduit
/// follows NIST SP 800-63B: length only) chooses its own, without
/// weakening Strata's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min: usize,
    pub max: usize,
    /// Lower case, upper case and a digit, all required.
    pub require_classes: bool,
}

impl PasswordPolicy {
    pub const STRATA: Self = Self {
        min: PASSWORD_MIN,
        max: PASSWORD_MAX,
        require_classes: true,
    };
    /// NIST SP 800-63B: at least 8 characters, no composition rules.
    pub const LENGTH_ONLY: Self = Self {
        min: PASSWORD_MIN,
        max: PASSWORD_MAX,
        require_classes: false,
    };
}

/// A new password in clear text, checked against the password policy. Its
/// `Debug` output is redacted so it cannot leak through logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// # Errors
    /// A [`Violation`] with code `length`, `weak` or
    /// [`text::CONTROL_CHARACTER`].
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        Self::parse_with(raw, PasswordPolicy::STRATA)
    }

    /// As [`Self::parse`], under `policy`.
    ///
    /// # Errors
    /// A [`Violation`] with code `length`, `weak` or
    /// [`text::CONTROL_CHARACTER`].
    pub fn parse_with(raw: &str, policy: PasswordPolicy) -> Result<Self, Violation> {
        text::check(raw, Lines::Single)?;
        let len = raw.chars().count();
        if !(policy.min..=policy.max).contains(&len) {
            return Err(Violation::new(
                "length",
                format!("must be {} to {} characters", policy.min, policy.max),
            ));
        }
        if policy.require_classes {
            let has_lower = raw.chars().any(|c| c.is_ascii_lowercase());
            let has_upper = raw.chars().any(|c| c.is_ascii_uppercase());
            let has_digit = raw.chars().any(|c| c.is_ascii_digit());
            if !(has_lower && has_upper && has_digit) {
                return Err(Violation::new(
                    "weak",
                    "must contain a lower-case letter, an upper-case letter and a digit (ASCII)",
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC/modular-crypt form, as stored, or the marker of
/// an account that has no password (created through OpenID Connect).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// What `users.password_hash` holds for an account without a password:
    /// no bcrypt hash starts with `!`, so nothing verifies against it, and
    /// the column stays `NOT NULL` (ADR 0016).
    pub const NONE: &'static str = "!no-password";

    pub fn new(encoded: String) -> Self {
        Self(encoded)
    }

    /// The marker of an account that has no password.
    pub fn none() -> Self {
        Self(Self::NONE.to_owned())
    }

    /// Whether this is a real hash, i.e. the account has a password.
    pub fn is_set(&self) -> bool {
        self.0 != Self::NONE
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    #[default]
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// # Errors
    /// A [`Violation`] with code `role` for anything but `user` or `admin`.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        match raw {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(Violation::new("role", "must be 'user' or 'admin'")),
        }
    }
}

/// An account as the rest of the system sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: Email,
    pub username: Username,
    pub full_name: Option<FullName>,
    pub role: Role,
    pub is_active: bool,
    /// When the account last proved control of its current address; `None`
    /// until then, and again after the address changes.
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

/// A user together with the hash needed to check their password. Only the
/// authentication use cases ask for this.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: PasswordHash,
}

/// Everything needed to insert an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: Email,
    pub username: Username,
    pub full_name: Option<FullName>,
    pub password_hash: PasswordHash,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Set when the address is known to be proven already (an OpenID
    /// provider asserted `email_verified`).
    pub email_verified_at: Option<DateTime<Utc>>,
    /// The verification mail to queue with the account, in its transaction.
    pub verification: Option<MailedToken>,
}

/// A partial update; `None` leaves a field as it is. `full_name:
/// Some(None)` clears the name. A changed e-mail address is unverified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChanges {
    pub email: Option<Email>,
    pub username: Option<Username>,
    pub full_name: Option<Option<FullName>>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// A mail to queue in the update's transaction, only if the update
    /// changes the address (the verification of the new one).
    pub verification: Option<MailedToken>,
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Filters of the admin user list; all must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Lower-cased text searched in e-mail, username and full name.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSortField {
    CreatedAt,
    Email,
    Username,
}

impl SortField for UserSortField {
    const NAMES: &'static [&'static str] = &["created_at", "email", "username"];
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "created_at" => Some(Self::CreatedAt),
            "email" => Some(Self::Email),
            "username" => Some(Self::Username),
            _ => None,
        }
    }
}

impl Default for Sort<UserSortField> {
    fn default() -> Self {
        Self {
            field: UserSortField::CreatedAt,
            direction: Direction::Desc,
        }
    }
}

/// Sign-ups on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyCount {
    pub date: chrono::NaiveDate,
    pub count: u64,
}

/// Account counts, computed by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStats {
    pub total: u64,
    pub active: u64,
    pub admins: u64,
    /// Days with at least one sign-up since the requested instant, oldest first.
    pub signups: Vec<DailyCount>,
}

/// Storage of accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts an account and, in the same transaction, stores and queues
    /// its `verification` token and mail when there is one.
    ///
    /// With `once`, its attempt is completed in the same transaction (see
    /// [`crate::idempotency`]).
    ///
    /// # Errors
    /// [`RepoError::Conflict`] with [`crate::UniqueField::Email`] or
    /// [`crate::UniqueField::Username`] when either is taken
    /// (case-insensitively), even when two inserts race;
    /// [`RepoError::ClaimLost`] when `once`'s attempt lost its key (nothing
    /// is written).
    async fn create_keyed(
        &self,
        user: NewUser,
        once: Option<Completion<User>>,
    ) -> Result<User, RepoError>;

    /// [`Self::create_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::create_keyed`].
    async fn create(&self, user: NewUser) -> Result<User, RepoError> {
        self.create_keyed(user, None).await
    }

    /// # Errors
    /// [`RepoError::NotFound`] when no account has this id.
    async fn find_by_id(&self, id: Uuid) -> Result<User, RepoError>;

    /// Looks an account up by e-mail or by username (both case-insensitive),
    /// with its password hash, for login. `Ok(None)` when there is none.
    ///
    /// # Errors
    /// Only storage failures.
    async fn find_credentials(&self, login: &str) -> Result<Option<UserCredentials>, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when no account has this id.
    async fn find_credentials_by_id(&self, id: Uuid) -> Result<UserCredentials, RepoError>;

    /// Applies `changes` and bumps `updated_at` to `now`. A new e-mail
    /// address clears `email_verified_at` and, in the same transaction,
    /// stores and queues `changes.verification` (both only when the address
    /// really differs from the stored one).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the account is gone;
    /// [`RepoError::Conflict`] when a new e-mail or username is taken.
    async fn update(
        &self,
        id: Uuid,
        changes: UserChanges,
        now: DateTime<Utc>,
    ) -> Result<User, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the account is gone.
    async fn set_password(
        &self,
        id: Uuid,
        hash: PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Deletes the account and, through the schema's cascades in the same
    /// statement, everything it owns: sessions, refresh tokens, items, posts
    /// (with their comments) and comments.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the account is already gone.
    async fn delete(&self, id: Uuid) -> Result<(), RepoError>;

    /// A page of accounts matching `filter` in `sort` order (ties by id).
    ///
    /// # Errors
    /// Only storage failures.
    async fn list(
        &self,
        filter: UserFilter,
        sort: Sort<UserSortField>,
        page: PageRequest,
    ) -> Result<Page<User>, RepoError>;

    /// Counts computed with aggregates in the database (never by loading
    /// accounts); `signups` covers accounts created at or after `since`.
    ///
    /// # Errors
    /// Only storage failures.
    async fn stats(&self, since: DateTime<Utc>) -> Result<UserStats, RepoError>;

    /// Up to `limit` accounts with an id greater than `after`, in id order:
    /// keyset batches that let an export walk every account in constant
    /// memory without long-lived cursors.
    ///
    /// # Errors
    /// Only storage failures.
    async fn export_batch(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<User>, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn email_without_domain_dot_or_at_is_rejected() {
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "a@-x.com",
            "a..b@example.com",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().code, "email", "{bad}");
        }
    }

    #[test]
    fn email_longer_than_254_characters_is_rejected() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long).unwrap_err().code, "length");
    }

    #[test]
    fn username_rules_cover_length_and_charset() {
        assert!(Username::parse("bob").is_ok());
        assert!(Username::parse(&"x".repeat(32)).is_ok());
        assert_eq!(Username::parse("ab").unwrap_err().code, "length");
        assert_eq!(Username::parse(&"x".repeat(33)).unwrap_err().code, "length");
        assert_eq!(Username::parse("bob smith").unwrap_err().code, "charset");
        assert_eq!(Username::parse("böb").unwrap_err().code, "charset");
    }

    #[test]
    fn username_normalizes_case_for_uniqueness() {
        assert_eq!(Username::parse("Bob_1").unwrap().normalized(), "bob_1");
    }

    #[test]
    fn password_policy_requires_length_and_mixed_characters() {
        assert!(Password::parse("Secret123").is_ok());
        assert_eq!(Password::parse("Sh0rt").unwrap_err().code, "length");
        assert_eq!(
            Password::parse(&format!("Aa1{}", "x".repeat(126)))
                .unwrap_err()
                .code,
            "length"
        );
        assert_eq!(Password::parse("alllower123").unwrap_err().code, "weak");
        assert_eq!(Password::parse("ALLUPPER123").unwrap_err().code, "weak");
        assert_eq!(Password::parse("NoDigitsHere").unwrap_err().code, "weak");
        let nist = PasswordPolicy::LENGTH_ONLY;
        assert!(Password::parse_with("bonjour1", nist).is_ok());
        assert!(Password::parse_with(&"a".repeat(64), nist).is_ok());
        assert_eq!(
            Password::parse_with("short7c", nist).unwrap_err().code,
            "length"
        );
        assert_eq!(Password::parse_with("", nist).unwrap_err().code, "length");
    }

    #[test]
    fn password_and_hash_never_print_their_content() {
        let password = Password::parse("Secret123").unwrap();
        assert!(!format!("{password:?}").contains("Secret123"));
        let hash = PasswordHash::new("$2b$04$abc".into());
        assert!(!format!("{hash:?}").contains("abc"));
    }

    #[test]
    fn an_account_without_a_password_carries_the_marker() {
        assert!(!PasswordHash::none().is_set());
        assert!(PasswordHash::new("$2b$04$abc".into()).is_set());
    }

    #[test]
    fn full_name_blank_means_none_and_length_is_bounded() {
        assert_eq!(FullName::parse("   ").unwrap(), None);
        assert_eq!(FullName::parse(" Ada ").unwrap().unwrap().as_str(), "Ada");
        assert_eq!(
            FullName::parse(&"x".repeat(101)).unwrap_err().code,
            "length"
        );
        assert_eq!(
            FullName::parse("a\u{0}b").unwrap_err().code,
            text::CONTROL_CHARACTER
        );
    }

    #[test]
    fn role_round_trips_through_its_name() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("root").is_err());
    }
}
