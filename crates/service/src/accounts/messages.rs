//! The mails of the account lifecycle: a fresh token, the link that carries
//! it, and the message rendered from the templates beside this file.
//!
//! Message content belongs to the use cases, so the templates live here and
//! not in an adapter; the mail adapters only deliver what they are given.

use chrono::{DateTime, Duration, Utc};
use minijinja::{Environment, context};
use strata_domain::accounts::{MailedToken, TokenDraft, TokenPurpose};
use strata_domain::users::{Email, Username};
use uuid::Uuid;

use crate::ServiceError;
use crate::jobs::kinds::send_email;
use crate::mail;
use crate::tokens::RefreshSecret;

/// Where the links in the mails point, and how long their tokens live.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// The client's base URL (`app.public_url`), without a trailing slash:
    /// mails link to `{public_url}/verify-email#token=…` and
    /// `{public_url}/reset-password#token=…`.
    pub public_url: String,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
    /// Refuse content writes by accounts whose address is unverified.
    pub require_verified_email: bool,
    /// Attempts of each `send_email` job (the kind's retry policy).
    pub mail_attempts: i32,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            verify_ttl: Duration::hours(48),
            reset_ttl: Duration::hours(1),
            require_verified_email: false,
            mail_attempts: 10,
        }
    }
}

/// Mints account tokens and renders the mails that carry them.
pub struct AccountMail {
    settings: AccountSettings,
    templates: Environment<'static>,
}

impl std::fmt::Debug for AccountMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountMail")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

const TEMPLATES: [(&str, &str); 4] = [
    (
        "verify_email.txt",
        include_str!("templates/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("templates/verify_email.html"),
    ),
    (
        "password_reset.txt",
        include_str!("templates/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("templates/password_reset.html"),
    ),
];

impl AccountMail {
    /// # Errors
    /// A template that does not parse (a bug the unit tests catch).
    pub fn new(settings: AccountSettings) -> Result<Self, ServiceError> {
        let mut templates = Environment::new();
        // `.html` templates escape what they insert (the default callback
        // decides by name); a username cannot inject markup.
        for (name, source) in TEMPLATES {
            templates
                .add_template(name, source)
                .map_err(|err| ServiceError::internal("Failed to parse a mail template", err))?;
        }
        let public_url = settings.public_url.trim_end_matches('/').to_owned();
        Ok(Self {
            settings: AccountSettings {
                public_url,
                ..settings
            },
            templates,
        })
    }

    pub fn settings(&self) -> &AccountSettings {
        &self.settings
    }

    /// A verification token for `email` and the mail that carries it.
    ///
    /// # Errors
    /// A template that fails to render.
    pub fn verification(
        &self,
        username: &Username,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<MailedToken, ServiceError> {
        let secret = RefreshSecret::generate();
        let link = format!(
            "{}/verify-email#token={}",
            self.settings.public_url, secret.value
        );
        let hours = self.settings.verify_ttl.num_hours();
        let values =
            context! { username => username.as_str(), email => email.as_str(), link, hours };
        let message = self.render(
            "verify_email",
            "Confirm your e-mail address",
            email,
            &values,
        )?;
        Ok(self.mailed(TokenPurpose::VerifyEmail, secret, email, message, now))
    }

    /// A reset token for whoever holds `email`, and its mail. Nothing here
    /// depends on whether an account has that address: the work is the same
    /// either way.
    ///
    /// # Errors
    /// A template that fails to render.
    pub fn password_reset(
        &self,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<MailedToken, ServiceError> {
        let secret = RefreshSecret::generate();
        let link = format!(
            "{}/reset-password#token={}",
            self.settings.public_url, secret.value
        );
        let minutes = self.settings.reset_ttl.num_minutes();
        let values = context! { email => email.as_str(), link, minutes };
        let message = self.render("password_reset", "Reset your password", email, &values)?;
        Ok(self.mailed(TokenPurpose::PasswordReset, secret, email, message, now))
    }

    fn render(
        &self,
        name: &str,
        subject: &str,
        to: &Email,
        values: &minijinja::Value,
    ) -> Result<mail::Email, ServiceError> {
        let render = |extension: &str| {
            self.templates
                .get_template(&format!("{name}.{extension}"))
                .and_then(|template| template.render(values))
                .map_err(|err| ServiceError::internal("Failed to render a mail template", err))
        };
        Ok(mail::Email {
            to: to.as_str().to_owned(),
            subject: subject.to_owned(),
            text: render("txt")?,
            html: Some(render("html")?),
        })
    }

    fn mailed(
        &self,
        purpose: TokenPurpose,
        secret: RefreshSecret,
        email: &Email,
        message: mail::Email,
        now: DateTime<Utc>,
    ) -> MailedToken {
        let ttl = match purpose {
            TokenPurpose::VerifyEmail => self.settings.verify_ttl,
            TokenPurpose::PasswordReset => self.settings.reset_ttl,
        };
        MailedToken {
            token: TokenDraft {
                id: Uuid::now_v7(),
                purpose,
                token_hash: secret.hash,
                email: email.clone(),
                created_at: now,
                expires_at: now + ttl,
            },
            mail: send_email::job(&message, self.settings.mail_attempts, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> AccountMail {
        AccountMail::new(AccountSettings {
            public_url: "https://app.example.com/".into(),
            ..AccountSettings::default()
        })
        .unwrap()
    }

    fn sent(mailed: &MailedToken) -> mail::Email {
        serde_json::from_value(mailed.mail.payload.clone()).unwrap()
    }

    /// The secret the link carries, which only the mail holds.
    fn secret_of(message: &mail::Email) -> String {
        let start = message.text.find("#token=").unwrap() + "#token=".len();
        message.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    #[test]
    fn a_verification_mail_links_to_the_public_url_with_a_token_stored_only_as_its_hash() {
        let now = Utc::now();
        let email = Email::parse("ada@example.com").unwrap();
        let mailed = mail()
            .verification(&Username::parse("ada").unwrap(), &email, now)
            .unwrap();
        let message = sent(&mailed);
        assert_eq!(message.to, "ada@example.com");
        assert!(
            message
                .text
                .contains("https://app.example.com/verify-email#token="),
            "{}",
            message.text
        );
        let secret = secret_of(&message);
        // 32 random bytes, base64url without padding.
        assert_eq!(secret.len(), 43);
        assert_eq!(
            mailed.token.token_hash,
            crate::tokens::hash_refresh_token(&secret)
        );
        assert!(!mailed.token.token_hash.contains(&secret));
        assert_eq!(mailed.token.purpose, TokenPurpose::VerifyEmail);
        assert_eq!(mailed.token.expires_at, now + Duration::hours(48));
        assert_eq!(mailed.mail.kind, send_email::KIND);
        assert!(message.html.unwrap().contains(&secret));
    }

    #[test]
    fn a_reset_mail_lives_an_hour_and_its_html_escapes_what_it_inserts() {
        let now = Utc::now();
        let email = Email::parse("o'hara@example.com").unwrap();
        let mailed = mail().password_reset(&email, now).unwrap();
        let message = sent(&mailed);
        assert_eq!(mailed.token.purpose, TokenPurpose::PasswordReset);
        assert_eq!(mailed.token.expires_at, now + Duration::hours(1));
        assert!(
            message
                .text
                .contains("https://app.example.com/reset-password#token=")
        );
        assert!(message.text.contains("o'hara@example.com"));
        let html = message.html.unwrap();
        assert!(html.contains("o&#x27;hara@example.com"), "{html}");
    }

    #[test]
    fn every_mail_carries_a_new_token() {
        let email = Email::parse("ada@example.com").unwrap();
        let mail = mail();
        let a = mail.password_reset(&email, Utc::now()).unwrap();
        let b = mail.password_reset(&email, Utc::now()).unwrap();
        assert_ne!(a.token.token_hash, b.token.token_hash);
        assert_ne!(secret_of(&sent(&a)), secret_of(&sent(&b)));
    }
}
