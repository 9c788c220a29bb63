//! The configuration of the account lifecycle: where mailed links point,
//! how long their tokens live, and whether writes need a verified address.

use serde::Deserialize;
use strata_service::AccountSettings;

use crate::config::Settings;

#[derive(Debug, Clone, Deserialize)]
pub struct AppSettings {
    /// The base URL of the client users open (the web app, or this server
    /// when it serves one): mails link to `{public_url}/verify-email#token=…`
    /// and `{public_url}/reset-password#token=…`.
    pub public_url: String,
}

/// What the account use cases need from `settings`; `mail_attempts` is the
/// `send_email` kind's retry policy.
pub fn account_settings(settings: &Settings, mail_attempts: i32) -> AccountSettings {
    let auth = &settings.auth;
    let secs =
        |value: u64| chrono::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX / 1000));
    AccountSettings {
        public_url: settings.app.public_url.clone(),
        verify_ttl: secs(auth.verify_email_ttl_secs),
        reset_ttl: secs(auth.password_reset_ttl_secs),
        require_verified_email: auth.require_verified_email,
        mail_attempts,
    }
}
