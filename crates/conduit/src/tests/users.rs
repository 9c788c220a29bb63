//! Sign-up, login, `/user` and the throttle.

use std::sync::Arc;

use actix_web::test::TestRequest;
use serde_json::json;
use strata_domain::UniqueField;
use strata_domain::profiles::{Bio, ImageUrl};
use strata_service::ServiceError;

use super::*;

#[actix_web::test]
async fn registering_answers_201_with_the_user_and_charges_the_folded_address() {
    let mut mocks = Mocks::new();
    mocks
        .auth
        .expect_register()
        .withf(|r| {
            r.email.as_str() == "jake@jake.jake"
                && r.username.as_str() == "jake"
                // Length only: no character classes under Conduit's policy.
                && r.password.expose() == "jakejakejake"
                && r.full_name.is_none()
        })
        .times(1)
        .returning(|_| Ok((user(), tokens())));
    let throttle = Arc::new(Spent::default());
    mocks.throttle = throttle.clone();
    let req = TestRequest::post().uri("/api/users").set_json(json!({
        "user": {"username": "jake", "email": " Jake@Jake.JAKE ", "password": "jakejakejake"}
    }));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"user": {
            "email": "jake@jake.jake",
            "token": "new.jwt",
            "username": "jake",
            "bio": null,
            "image": null,
        }})
    );
    assert_eq!(
        *throttle.charged.lock().unwrap(),
        ["request address", "credentials jake@jake.jake"]
    );
}

#[actix_web::test]
async fn blank_or_missing_fields_cannot_be_blank_and_others_keep_the_domains_message() {
    let mut mocks = Mocks::new();
    mocks.auth.expect_register().never();
    let req = TestRequest::post().uri("/api/users").set_json(json!({
        "user": {"username": "   ", "password": "short"}
    }));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body,
        json!({"errors": {
            "email": ["can't be blank"],
            "username": ["can't be blank"],
            "password": ["must be 8 to 128 characters"],
        }})
    );
}

#[actix_web::test]
async fn a_taken_username_is_409() {
    let mut mocks = Mocks::new();
    mocks
        .auth
        .expect_register()
        .times(1)
        .returning(|_| Err(ServiceError::Taken(UniqueField::Username)));
    let req = TestRequest::post().uri("/api/users").set_json(json!({
        "user": {"username": "jake", "email": "jake@jake.jake", "password": "jakejakejake"}
    }));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"errors": {"username": ["has already been taken"]}})
    );
}

#[actix_web::test]
async fn wrong_credentials_are_401_credentials_invalid() {
    let mut mocks = Mocks::new();
    mocks
        .auth
        .expect_login()
        .withf(|login, password| login == "jake@jake.jake" && password == "wrongwrong")
        .times(1)
        .returning(|_, _| Err(ServiceError::InvalidCredentials));
    mocks.users.expect_me().never();
    let req = TestRequest::post().uri("/api/users/login").set_json(json!({
        "user": {"email": "jake@jake.jake", "password": "wrongwrong"}
    }));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"errors": {"credentials": ["invalid"]}}));
}

#[actix_web::test]
async fn login_answers_the_account_with_its_profile_and_the_new_token() {
    let mut mocks = Mocks::new();
    mocks.auth = MockAuthService::new();
    mocks
        .auth
        .expect_login()
        .times(1)
        .returning(|_, _| Ok(tokens()));
    // The new token is verified like any other to learn whose it is.
    mocks
        .auth
        .expect_authenticate()
        .withf(|token| token == "new.jwt")
        .times(1)
        .returning(|_| Ok(principal()));
    mocks.users.expect_me().times(1).returning(|_| Ok(user()));
    mocks.profiles.expect_mine().times(1).returning(|_| {
        Ok(Profile {
            bio: Some(Bio::parse("I work at statefarm").unwrap()),
            ..profile(ME, "jake")
        })
    });
    let req = TestRequest::post().uri("/api/users/login").set_json(json!({
        "user": {"email": "jake@jake.jake", "password": "jakejakejake"}
    }));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["token"], "new.jwt");
    assert_eq!(body["user"]["bio"], "I work at statefarm");
    assert_eq!(body["user"]["image"], json!(null));
}

#[actix_web::test]
async fn the_current_user_carries_the_token_it_was_asked_with() {
    let mut mocks = Mocks::new();
    mocks.users.expect_me().times(1).returning(|_| Ok(user()));
    mocks
        .profiles
        .expect_mine()
        .times(1)
        .returning(|_| Ok(profile(ME, "jake")));
    let req = TestRequest::get()
        .uri("/api/user")
        .insert_header(("Authorization", format!("Bearer {TOKEN}")));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["token"], TOKEN);
    assert_eq!(body["user"]["email"], "jake@jake.jake");
}

#[actix_web::test]
async fn an_empty_bio_clears_it_and_absent_keys_change_nothing() {
    let mut mocks = Mocks::new();
    mocks.users.expect_update_me().never();
    mocks.users.expect_me().times(1).returning(|_| Ok(user()));
    mocks.auth.expect_replace_password().never();
    mocks
        .profiles
        .expect_update()
        .withf(|caller, update| {
            *caller == principal()
                && update.bio == Some(None)
                && update.image == Some(Some(ImageUrl::parse("https://i.example/a.png").unwrap()))
        })
        .times(1)
        .returning(|_, _| {
            Ok(Profile {
                image: Some(ImageUrl::parse("https://i.example/a.png").unwrap()),
                ..profile(ME, "jake")
            })
        });
    let req = TestRequest::put()
        .uri("/api/user")
        .insert_header(token(TOKEN))
        .set_json(json!({"user": {"bio": "", "image": "https://i.example/a.png"}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["bio"], json!(null));
    assert_eq!(body["user"]["image"], "https://i.example/a.png");
    assert_eq!(body["user"]["token"], TOKEN);
}

#[actix_web::test]
async fn a_null_email_or_empty_password_is_422_and_changes_nothing() {
    let mut mocks = Mocks::new();
    mocks.users.expect_update_me().never();
    mocks.profiles.expect_update().never();
    mocks.auth.expect_replace_password().never();
    let req = TestRequest::put()
        .uri("/api/user")
        .insert_header(token(TOKEN))
        .set_json(json!({"user": {"email": null, "password": "", "bio": "fine"}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"errors": {"email": ["can't be blank"], "password": ["can't be blank"]}})
    );
}

#[actix_web::test]
async fn a_new_username_and_password_go_to_their_own_services() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_update_me()
        .withf(|_, changes| {
            changes.username.as_ref().map(|u| u.as_str()) == Some("jacob")
                && changes.email.is_none()
                && changes.full_name.is_none()
        })
        .times(1)
        .returning(|_, _| Ok(user()));
    mocks
        .profiles
        .expect_mine()
        .times(1)
        .returning(|_| Ok(profile(ME, "jacob")));
    mocks
        .auth
        .expect_replace_password()
        .withf(|_, password| password.expose() == "longenough")
        .times(1)
        .returning(|_, _| Ok(()));
    let req = TestRequest::put()
        .uri("/api/user")
        .insert_header(token(TOKEN))
        .set_json(json!({"user": {"username": "jacob", "password": "longenough"}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn a_spent_credentials_budget_is_429_with_retry_after_and_no_login() {
    let mut mocks = Mocks::new();
    mocks.auth.expect_login().never();
    mocks.throttle = Arc::new(Spent {
        credentials: true,
        ..Spent::default()
    });
    let req = TestRequest::post().uri("/api/users/login").set_json(json!({
        "user": {"email": "Jake@jake.jake", "password": "jakejakejake"}
    }));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 429);
    assert_eq!(headers.get("retry-after").unwrap(), "30");
    assert_eq!(body, json!({"errors": {"rate": ["too many requests"]}}));
}

#[actix_web::test]
async fn a_spent_request_budget_is_charged_to_the_authenticated_user() {
    let mut mocks = Mocks::new();
    mocks.users.expect_me().never();
    let throttle = Arc::new(Spent {
        requests: true,
        ..Spent::default()
    });
    mocks.throttle = throttle.clone();
    let req = TestRequest::get()
        .uri("/api/user")
        .insert_header(token(TOKEN));
    let (status, headers, _) = call(mocks, req).await;
    assert_eq!(status, 429);
    assert_eq!(headers.get("retry-after").unwrap(), "7");
    assert_eq!(*throttle.charged.lock().unwrap(), [format!("request {ME}")]);
}
