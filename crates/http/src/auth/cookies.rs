//! The opt-in cookie mode for browser clients: the refresh cookie and the
//! double-submit CSRF check.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use strata_service::tokens::RefreshSecret;

use crate::error::ApiError;

pub const REFRESH_COOKIE: &str = "strata_refresh";
pub const CSRF_COOKIE: &str = "strata_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The opt-in cookie mode for browser clients: the refresh token also travels
/// as an `HttpOnly` cookie scoped to `/api/v1/auth`, and requests that
/// authenticate with that cookie must echo a readable CSRF cookie in
/// `X-CSRF-Token` (double submit), which a cross-site page cannot read.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub enabled: bool,
    /// `Secure` flag; only ever off for plain-HTTP development.
    pub secure: bool,
    pub max_age_secs: i64,
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            secure: true,
            max_age_secs: 2_592_000,
        }
    }
}

impl CookieSettings {
    /// Sets (or, with `None`, clears) the refresh and CSRF cookies.
    pub(crate) fn apply(
        &self,
        builder: &mut actix_web::HttpResponseBuilder,
        refresh_token: Option<&str>,
    ) {
        if !self.enabled {
            return;
        }
        let max_age = CookieDuration::seconds(if refresh_token.is_some() {
            self.max_age_secs
        } else {
            0
        });
        let csrf = refresh_token
            .map(|_| RefreshSecret::generate().value)
            .unwrap_or_default();
        builder.cookie(
            Cookie::build(REFRESH_COOKIE, refresh_token.unwrap_or_default().to_owned())
                .path("/api/v1/auth")
                .http_only(true)
                .secure(self.secure)
                .same_site(SameSite::Strict)
                .max_age(max_age)
                .finish(),
        );
        builder.cookie(
            Cookie::build(CSRF_COOKIE, csrf)
                .path("/")
                .secure(self.secure)
                .same_site(SameSite::Strict)
                .max_age(max_age)
                .finish(),
        );
    }

    /// The refresh token from the cookie, if this request authenticates that
    /// way and passes the double-submit check.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] when the cookie is there but the CSRF header
    /// is missing or does not match the CSRF cookie.
    pub(super) fn cookie_token(&self, req: &HttpRequest) -> Result<Option<String>, ApiError> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(token) = req
            .cookie(REFRESH_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
        else {
            return Ok(None);
        };
        let expected = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let presented = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if expected.is_empty()
            || !strata_service::tokens::constant_time_eq(expected.as_bytes(), presented.as_bytes())
        {
            return Err(ApiError::Forbidden);
        }
        Ok(Some(token))
    }
}
