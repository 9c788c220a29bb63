//! Sign-in through a real OpenID provider on loopback (oauth2-mock-server,
//! started by `.ci/oidc-provider.sh`), over real HTTP, on every backend:
//! success, replayed and forged states, cookies, forged ID tokens, account
//! linking by address, the browser flow's one-time code, and identities.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, Response};
use serde_json::{Value, json};
use strata_tests::oidc::{FRONTEND, PROVIDER, Person, Provider, at_provider, set_cookie};
use strata_tests::{Backend, TestApp, TestUser, assert_problem};

/// A server per backend registered at the provider, with `extra` settings.
async fn apps(provider: &Provider, extra: &[(&'static str, &'static str)]) -> Vec<TestApp> {
    let mut overrides = provider.overrides();
    overrides.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut apps = Vec::new();
    for backend in Backend::all() {
        apps.push(TestApp::spawn_with(&backend, &overrides).await);
    }
    apps
}

async fn json(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

async fn me(app: &TestApp, access: &str) -> Value {
    json(app.get("/api/v1/users/me", Some(access)).await, 200).await
}

#[tokio::test]
async fn a_new_identity_creates_an_account_and_signs_in_to_it_again() {
    let Some(provider) = Provider::from_env("oidc_success") else {
        return;
    };
    for app in apps(&provider, &[]).await {
        let person = Person::generate();
        let first = json(app.oidc_sign_in(&person).await, 200).await;
        assert_eq!(first["created"], true);
        assert_eq!(first["token_type"], "Bearer");
        assert_eq!(first["user"]["email"], person.email);
        assert_eq!(first["user"]["email_verified"], true);
        let access = first["access_token"].as_str().unwrap();
        assert_eq!(me(&app, access).await["id"], first["user"]["id"]);

        let again = json(app.oidc_sign_in(&person).await, 200).await;
        assert_eq!(again["created"], false);
        assert_eq!(again["user"]["id"], first["user"]["id"]);

        // The account has no password: nothing logs in with one.
        for password in ["", "!no-password", "Secret123"] {
            let login = app.login(&person.email, password).await;
            assert_eq!(login.status(), if password.is_empty() { 422 } else { 401 });
        }
        // The refresh token works like any other.
        let refreshed = app.refresh(again["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refreshed.status(), 200);
    }
}

#[tokio::test]
async fn a_replayed_or_forged_state_and_a_missing_or_foreign_cookie_are_refused() {
    let Some(provider) = Provider::from_env("oidc_state") else {
        return;
    };
    for app in apps(&provider, &[]).await {
        let person = Person::generate();
        let returned = app.oidc_start("api", &person).await;
        assert_eq!(
            app.oidc_callback(&returned, Some(&returned.cookie))
                .await
                .status(),
            200
        );
        // Replayed: the state was used up.
        let replayed = app.oidc_callback(&returned, Some(&returned.cookie)).await;
        assert_problem(replayed, 400, "OIDC_STATE_INVALID").await;

        // Forged: a state this server never issued.
        let mut forged = app.oidc_start("api", &person).await;
        forged.state = "forged-state-of-the-attacker".into();
        let answer = app.oidc_callback(&forged, Some(&forged.cookie)).await;
        assert_problem(answer, 400, "OIDC_STATE_INVALID").await;

        // Without the cookie (another browser completing the victim's
        // flow, login CSRF), and with another flow's cookie.
        let no_cookie = app.oidc_start("api", &person).await;
        let answer = app.oidc_callback(&no_cookie, None).await;
        assert_problem(answer, 400, "OIDC_STATE_INVALID").await;
        let mine = app.oidc_start("api", &person).await;
        let theirs = app.oidc_start("api", &person).await;
        let answer = app.oidc_callback(&mine, Some(&theirs.cookie)).await;
        assert_problem(answer, 400, "OIDC_STATE_INVALID").await;
        // A state refused once stays used.
        let answer = app.oidc_callback(&mine, Some(&mine.cookie)).await;
        assert_problem(answer, 400, "OIDC_STATE_INVALID").await;
    }
}

#[tokio::test]
async fn forged_id_tokens_and_a_declined_consent_sign_nobody_in() {
    let Some(provider) = Provider::from_env("oidc_forged_tokens") else {
        return;
    };
    for app in apps(&provider, &[]).await {
        for scenario in [
            "wrong_nonce",
            "expired",
            "alg_none",
            "hs256",
            "wrong_audience",
            "deny",
        ] {
            let person = Person {
                scenario: Some(scenario),
                ..Person::generate()
            };
            let answer = app.oidc_sign_in(&person).await;
            let body = assert_problem(answer, 401, "OIDC_LOGIN_FAILED").await;
            assert!(body.get("access_token").is_none(), "{scenario}");
            // No account was created on the way.
            let login = app
                .post_json(
                    "/api/v1/auth/password-reset",
                    &json!({"email": person.email}),
                    None,
                )
                .await;
            assert_eq!(login.status(), 202);
        }
    }
}

/// An account whose verified address the provider will report for a
/// different subject: created through the provider itself with a verified
/// address.
async fn verified_account(app: &TestApp) -> (Person, Value) {
    let owner = Person::generate();
    let body = json(app.oidc_sign_in(&owner).await, 200).await;
    assert_eq!(body["user"]["email_verified"], true);
    (owner, body)
}

#[tokio::test]
async fn an_address_links_an_identity_only_when_verified_on_both_sides_and_allowed() {
    let Some(provider) = Provider::from_env("oidc_linking") else {
        return;
    };
    // Off (the default): even a doubly verified address is not linked.
    for app in apps(&provider, &[]).await {
        let (owner, _) = verified_account(&app).await;
        let claimant = Person {
            email: owner.email.clone(),
            ..Person::generate()
        };
        let answer = app.oidc_sign_in(&claimant).await;
        assert_problem(answer, 409, "OIDC_LINK_REQUIRED").await;
    }
    for app in apps(&provider, &[("APP__OIDC__LINK_VERIFIED_EMAIL", "true")]).await {
        // An unverified claim of a verified address is refused.
        let (owner, body) = verified_account(&app).await;
        for email_verified in [Some(false), None] {
            let claimant = Person {
                email: owner.email.clone(),
                email_verified,
                ..Person::generate()
            };
            let answer = app.oidc_sign_in(&claimant).await;
            assert_problem(answer, 409, "OIDC_LINK_REQUIRED").await;
        }
        // A verified claim of an address the account never verified (a
        // password registration, no mail followed) is refused too.
        let local = TestUser::generate();
        app.registered(&local).await;
        let claimant = Person {
            email: local.email.clone(),
            ..Person::generate()
        };
        let answer = app.oidc_sign_in(&claimant).await;
        assert_problem(answer, 409, "OIDC_LINK_REQUIRED").await;
        // Verified on both sides: linked, and signs in to the owner's account.
        let sibling = Person {
            email: owner.email.clone(),
            ..Person::generate()
        };
        let linked = json(app.oidc_sign_in(&sibling).await, 200).await;
        assert_eq!(linked["created"], false);
        assert_eq!(linked["user"]["id"], body["user"]["id"]);
        let access = linked["access_token"].as_str().unwrap();
        let identities = json(
            app.get("/api/v1/users/me/identities", Some(access)).await,
            200,
        )
        .await;
        assert_eq!(identities["total"], 2);
    }
}

#[tokio::test]
async fn a_browser_flow_trades_a_one_time_code_from_the_fragment() {
    let Some(provider) = Provider::from_env("oidc_browser") else {
        return;
    };
    for app in apps(&provider, &[]).await {
        let person = Person::generate();
        let returned = app.oidc_start("browser", &person).await;
        let answer = app.oidc_callback(&returned, Some(&returned.cookie)).await;
        assert_eq!(answer.status(), 303);
        let to = answer.headers()["location"].to_str().unwrap().to_owned();
        let code = to
            .strip_prefix(&format!("{FRONTEND}#code="))
            .unwrap_or_else(|| panic!("{to}"));
        assert!(!to.contains("access_token") && !to.contains('?'), "{to}");
        let body = json!({"code": code});
        let exchange = || app.post_json("/api/v1/auth/oidc/exchange", &body, None);
        let tokens = json(exchange().await, 200).await;
        assert_eq!(
            me(&app, tokens["access_token"].as_str().unwrap()).await["email"],
            person.email
        );
        assert_problem(exchange().await, 400, "INVALID_TOKEN").await;
    }
}

#[tokio::test]
async fn identities_are_linked_listed_and_never_all_unlinked() {
    let Some(provider) = Provider::from_env("oidc_identities") else {
        return;
    };
    for app in apps(&provider, &[]).await {
        let person = Person::generate();
        let signed_in = json(app.oidc_sign_in(&person).await, 200).await;
        let access = signed_in["access_token"].as_str().unwrap().to_owned();
        let list = || app.get("/api/v1/users/me/identities", Some(&access));
        let first = json(list().await, 200).await;
        assert_eq!(first["total"], 1);
        assert_eq!(first["items"][0]["subject"], person.subject);
        assert_eq!(first["items"][0]["provider"], PROVIDER);
        let first_id = first["items"][0]["id"].as_str().unwrap().to_owned();

        // The only way in of a password-less account stays.
        let path = format!("/api/v1/users/me/identities/{first_id}");
        let refused = app.send(Method::DELETE, &path, Some(&access), None).await;
        assert_problem(refused, 409, "LAST_SIGN_IN_METHOD").await;

        // Link a second identity from the signed-in account.
        let second = Person::generate();
        let started = app
            .post_json(
                "/api/v1/users/me/identities",
                &json!({"provider": PROVIDER}),
                Some(&access),
            )
            .await;
        assert_eq!(started.status(), 200);
        let cookie = set_cookie(&started, "strata_oidc").unwrap();
        let url = started.json::<Value>().await.unwrap()["authorization_url"]
            .as_str()
            .unwrap()
            .to_owned();
        let returned = at_provider(&url, &second, cookie).await;
        let linked = json(
            app.oidc_callback(&returned, Some(&returned.cookie)).await,
            201,
        )
        .await;
        assert_eq!(linked["subject"], second.subject);
        assert_eq!(json(list().await, 200).await["total"], 2);
        // The second identity signs in to the same account.
        let via_second = json(app.oidc_sign_in(&second).await, 200).await;
        assert_eq!(via_second["user"]["id"], signed_in["user"]["id"]);

        // One may go, then the last one may not.
        let removed = app.send(Method::DELETE, &path, Some(&access), None).await;
        assert_eq!(removed.status(), 204);
        let last = linked["id"].as_str().unwrap();
        let refused = app
            .send(
                Method::DELETE,
                &format!("/api/v1/users/me/identities/{last}"),
                Some(&access),
                None,
            )
            .await;
        assert_problem(refused, 409, "LAST_SIGN_IN_METHOD").await;

        // An identity another account holds cannot be linked here.
        let other = TestUser::generate();
        let other_tokens = app.registered(&other).await;
        let started = app
            .post_json(
                "/api/v1/users/me/identities",
                &json!({"provider": PROVIDER}),
                Some(&other_tokens.access),
            )
            .await;
        let cookie = set_cookie(&started, "strata_oidc").unwrap();
        let url = started.json::<Value>().await.unwrap()["authorization_url"]
            .as_str()
            .unwrap()
            .to_owned();
        let returned = at_provider(&url, &second, cookie).await;
        let answer = app.oidc_callback(&returned, Some(&returned.cookie)).await;
        assert_problem(answer, 409, "IDENTITY_TAKEN").await;
    }
}

#[tokio::test]
async fn an_unknown_provider_is_a_404_problem() {
    let Some(provider) = Provider::from_env("oidc_unknown_provider") else {
        return;
    };
    for app in apps(&provider, &[]).await {
        let answer = app.get("/api/v1/auth/oidc/nope/authorize", None).await;
        assert_problem(answer, 404, "NOT_FOUND").await;
    }
}
