//! The request and response bodies of `/api/v1/auth/*`.

use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::users::Password;
use strata_service::{Registration, TokenPair};
use utoipa::ToSchema;
use validator::Validate;

use crate::users::UserResponse;
use crate::validation;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[validate(custom(function = "validation::email"))]
    #[schema(example = "ada@example.com", max_length = 254, format = Email)]
    pub email: String,
    #[validate(custom(function = "validation::username"))]
    #[schema(
        example = "ada",
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9_-]+$"
    )]
    pub username: String,
    #[validate(custom(function = "validation::password"))]
    #[schema(example = "Secret123", format = Password, min_length = 8, max_length = 128, pattern = "^([^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z])[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub password: String,
    #[validate(custom(function = "validation::full_name"))]
    #[schema(
        example = "Ada Lovelace",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub full_name: Option<String>,
}

impl RegisterRequest {
    /// Every field parsed, every violation reported.
    pub(crate) fn try_into_domain(&self) -> Result<Registration, ValidationErrors> {
        Registration::parse(
            &self.email,
            &self.username,
            &self.password,
            self.full_name.as_deref(),
        )
    }
}

/// Login as JSON. `username` may be the e-mail address or the username.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(custom(function = "validation::login"))]
    #[schema(
        example = "ada",
        min_length = 1,
        max_length = 254,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub username: String,
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(example = "Secret123", format = Password, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub password: String,
}

/// Login as an OAuth2 password-grant form (RFC 6749 §4.3.2; what Swagger
/// UI's Authorize sends). The grant's other fields are accepted and ignored;
/// any other field is refused, as in JSON.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    #[validate(custom(function = "validation::login"))]
    #[schema(
        example = "ada",
        min_length = 1,
        max_length = 254,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub(super) username: String,
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(format = Password, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub(super) password: String,
    /// `password` when sent; no other grant is supported.
    #[schema(pattern = "^password$")]
    pub(super) grant_type: Option<String>,
    #[allow(dead_code)]
    pub(super) scope: Option<String>,
    #[allow(dead_code)]
    pub(super) client_id: Option<String>,
    #[allow(dead_code)]
    pub(super) client_secret: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Any string without NUL is accepted here: one that is not a live
    /// refresh token (an access token, a truncated one, garbage) is simply
    /// invalid, 401. NUL is refused in every body (422), as for passwords.
    #[schema(pattern = "^[^\\u0000]*$")]
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(format = Password, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub current_password: String,
    #[validate(custom(function = "validation::password"))]
    #[schema(format = Password, min_length = 8, max_length = 128, pattern = "^([^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z])[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub new_password: String,
}

impl PasswordChangeRequest {
    /// The current password, as sent (it is checked against the stored
    /// hash, not parsed), and the new one.
    pub(crate) fn try_into_domain(self) -> Result<(String, Password), ValidationErrors> {
        let new = Password::parse(&self.new_password)
            .map_err(|v| ValidationErrors::single("new_password", v))?;
        Ok((self.current_password, new))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: UserResponse,
    #[serde(flatten)]
    pub tokens: TokenResponse,
}
