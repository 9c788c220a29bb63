//! The real OpenID provider the sign-in tests use: oauth2-mock-server 8,
//! started by `.ci/oidc-provider.sh` (and `.ci/run`) with the launcher in
//! `tests/oidc-provider/provider.mjs`. Tests that need it skip with a note
//! when `TEST_OIDC_ISSUER` is unset, and fail when it is set but
//! unreachable.
//!
//! A flow is driven hop by hop over real HTTP, redirects followed by hand:
//! Strata's authorize (302 + binding cookie), the provider's authorize (302
//! back with `code` and `state`), Strata's callback (which exchanges the
//! code at the provider's token endpoint and fetches its keys).

use std::net::TcpStream;

use reqwest::{Client, Response, redirect};

use crate::TestApp;

/// The provider's name in the server's configuration.
pub const PROVIDER: &str = "mock";
/// Where browser flows land in these tests.
pub const FRONTEND: &str = "https://app.strata.test/signed-in";

#[derive(Debug, Clone)]
pub struct Provider {
    pub issuer: String,
}

/// Who signs in at the provider, and what the provider's answer does.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub subject: String,
    pub email: String,
    /// `Some(true)`/`Some(false)`: `email_verified` says so; `None`: absent.
    pub email_verified: Option<bool>,
    /// One of the launcher's scenarios (`wrong_nonce`, `expired`, `alg_none`, …).
    pub scenario: Option<&'static str>,
}

impl Person {
    /// A new person with a verified address.
    pub fn generate() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Self {
            subject: format!("sub-{tag}"),
            email: format!("oidc-{}@example.com", &tag[..12]),
            email_verified: Some(true),
            scenario: None,
        }
    }
}

/// A login half done: the provider redirected back with these.
#[derive(Debug, Clone)]
pub struct Returned {
    pub state: String,
    pub code: Option<String>,
    pub error: Option<String>,
    /// The `strata_oidc` cookie's value that the authorize step set.
    pub cookie: String,
}

impl Provider {
    /// `None`, after a note naming `test`, when `TEST_OIDC_ISSUER` is unset.
    pub fn from_env(test: &str) -> Option<Self> {
        let Ok(issuer) = std::env::var("TEST_OIDC_ISSUER") else {
            eprintln!("{test}: skipped, TEST_OIDC_ISSUER is not set (see .ci/oidc-provider.sh)");
            return None;
        };
        let address = issuer
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| panic!("TEST_OIDC_ISSUER must be http://host:port: {issuer:?}"));
        TcpStream::connect(&address).unwrap_or_else(|err| {
            panic!("TEST_OIDC_ISSUER={issuer} is set but unreachable: {err}")
        });
        Some(Self { issuer })
    }

    /// The settings that register Strata at this provider as [`PROVIDER`].
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("APP__OIDC__PROVIDERS__MOCK__ISSUER", self.issuer.clone()),
            (
                "APP__OIDC__PROVIDERS__MOCK__CLIENT_ID",
                "strata-test".into(),
            ),
            (
                "APP__OIDC__PROVIDERS__MOCK__CLIENT_SECRET",
                "strata-test-secret".into(),
            ),
            // The provider redirects here; the test makes that hop to the
            // server's real address itself.
            (
                "APP__OIDC__PROVIDERS__MOCK__REDIRECT_URL",
                "https://api.strata.test/api/v1/auth/oidc/mock/callback".into(),
            ),
            ("APP__OIDC__FRONTEND_REDIRECT", FRONTEND.into()),
        ]
    }
}

/// A client that follows no redirect.
pub fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The value of cookie `name` among `response`'s `Set-Cookie` headers.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}="))?.split(';').next())
        .map(str::to_owned)
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Follows the provider's authorization URL as `person` and returns what
/// it redirected back with.
pub async fn at_provider(authorization_url: &str, person: &Person, cookie: String) -> Returned {
    let mut extra = vec![
        ("test_sub", person.subject.clone()),
        ("test_email", person.email.clone()),
        (
            "test_email_verified",
            person
                .email_verified
                .map_or("absent".into(), |v| v.to_string()),
        ),
    ];
    if let Some(scenario) = person.scenario {
        extra.push(("test_scenario", scenario.into()));
    }
    let url = format!(
        "{authorization_url}&{}",
        serde_urlencoded::to_string(&extra).unwrap()
    );
    let answer = client().get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 302, "the provider's authorize answered");
    let back = location(&answer);
    assert!(
        back.starts_with("https://api.strata.test/api/v1/auth/oidc/mock/callback?"),
        "{back}"
    );
    Returned {
        state: query_param(&back, "state").expect("state comes back"),
        code: query_param(&back, "code"),
        error: query_param(&back, "error"),
        cookie,
    }
}

impl TestApp {
    /// Starts a sign-in (`mode` `api` or `browser`) and lets `person` sign
    /// in at the provider.
    pub async fn oidc_start(&self, mode: &str, person: &Person) -> Returned {
        let started = client()
            .get(self.url(&format!(
                "/api/v1/auth/oidc/{PROVIDER}/authorize?mode={mode}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 302);
        let cookie = set_cookie(&started, "strata_oidc").expect("the binding cookie");
        let to = location(&started);
        assert!(
            to.starts_with(&format!("{}/authorize?", self.oidc_issuer())),
            "{to}"
        );
        for parameter in ["state", "nonce", "code_challenge"] {
            assert!(query_param(&to, parameter).is_some(), "{parameter} in {to}");
        }
        assert_eq!(
            query_param(&to, "code_challenge_method").as_deref(),
            Some("S256")
        );
        at_provider(&to, person, cookie).await
    }

    /// Completes a login at Strata's callback, presenting `cookie`.
    pub async fn oidc_callback(&self, returned: &Returned, cookie: Option<&str>) -> Response {
        let mut query = vec![("state", returned.state.clone())];
        if let Some(code) = &returned.code {
            query.push(("code", code.clone()));
        }
        if let Some(error) = &returned.error {
            query.push(("error", error.clone()));
        }
        let mut request = client().get(self.url(&format!(
            "/api/v1/auth/oidc/{PROVIDER}/callback?{}",
            serde_urlencoded::to_string(&query).unwrap()
        )));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("strata_oidc={cookie}"));
        }
        request.send().await.unwrap()
    }

    /// A whole API-mode sign-in as `person`.
    pub async fn oidc_sign_in(&self, person: &Person) -> Response {
        let returned = self.oidc_start("api", person).await;
        self.oidc_callback(&returned, Some(&returned.cookie)).await
    }

    fn oidc_issuer(&self) -> String {
        std::env::var("TEST_OIDC_ISSUER").unwrap_or_default()
    }
}
