#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use strata_domain::oidc::KeyMaterial;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A one-route-per-path HTTP server on loopback answering fixed
/// `(status line, body)`s; `{base}` in a body becomes its own URL.
async fn serve(routes: Vec<(&'static str, &'static str, String)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let own = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = vec![0u8; 8192];
            let read = socket.read(&mut request).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..read]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body) = routes
                .iter()
                .find(|(route, _, _)| path.starts_with(route))
                .map_or(("404 Not Found", String::new()), |(_, status, body)| {
                    (*status, body.replace("{base}", &own))
                });
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nLocation: {own}/elsewhere\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    base
}

fn discovery(issuer: &str) -> String {
    json!({
        "issuer": issuer,
        "authorization_endpoint": "{base}/authorize",
        "token_endpoint": "{base}/token",
        "jwks_uri": "{base}/jwks",
    })
    .to_string()
}

fn provider(issuer: &str) -> HttpIdentityProvider {
    HttpIdentityProvider::new(
        ProviderSettings {
            issuer: issuer.to_owned(),
            client_id: "client id".into(),
            client_secret: "s3cr:t".into(),
            redirect_url: "https://api.example.com/api/v1/auth/oidc/idp/callback".into(),
            scopes: vec!["openid".into(), "email".into()],
            keys_min_refresh: Duration::from_secs(60),
        },
        http_client(Duration::from_secs(5)).unwrap(),
    )
}

#[test]
fn client_credentials_are_form_encoded_before_basic_encoding() {
    let header = basic_auth("client id", "s3cr:t");
    let decoded = STANDARD
        .decode(header.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), "client+id:s3cr%3At");
}

#[test]
fn a_jwks_keeps_the_signing_keys_it_understands() {
    let set: jwks::KeySet = serde_json::from_value(json!({"keys": [
        {"kty": "RSA", "kid": "r", "alg": "RS256", "use": "sig", "n": "nn", "e": "AQAB"},
        {"kty": "EC", "kid": "e", "crv": "P-256", "x": "xx", "y": "yy"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "nn", "e": "AQAB"},
        {"kty": "oct", "kid": "hmac", "k": "secret"},
    ]}))
    .unwrap();
    let keys = set.verification_keys();
    let kids: Vec<_> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
    assert_eq!(kids, ["r", "e"]);
    assert!(matches!(&keys[1].material, KeyMaterial::Ec { curve, .. } if curve == "P-256"));
}

#[tokio::test]
async fn the_authorization_url_carries_every_parameter_encoded() {
    let base = serve(vec![("/.well-known", "200 OK", discovery("{base}"))]).await;
    let url = provider(&base)
        .authorization_url("st&te", "n", "ch")
        .await
        .unwrap();
    assert!(url.starts_with(&format!("{base}/authorize?response_type=code&client_id=client+id&redirect_uri=https%3A%2F%2Fapi.example.com%2Fapi%2Fv1%2Fauth%2Foidc%2Fidp%2Fcallback&scope=openid+email&state=st%26te&nonce=n&code_challenge=ch&code_challenge_method=S256")), "{url}");
}

#[tokio::test]
async fn discovery_for_another_issuer_is_refused() {
    let base = serve(vec![(
        "/.well-known",
        "200 OK",
        discovery("https://evil.example.com"),
    )])
    .await;
    let err = provider(&base).authorization_url("s", "n", "c").await;
    assert!(
        matches!(err, Err(ProviderError::Unavailable { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_redirecting_token_endpoint_is_an_error_not_followed() {
    let base = serve(vec![
        ("/.well-known", "200 OK", discovery("{base}")),
        ("/token", "307 Temporary Redirect", String::new()),
        ("/elsewhere", "200 OK", json!({"id_token": "x"}).to_string()),
    ])
    .await;
    let err = provider(&base).exchange_code("code", "verifier").await;
    assert!(
        matches!(err, Err(ProviderError::Unavailable { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_code_keeps_the_oauth_error() {
    let base = serve(vec![
        ("/.well-known", "200 OK", discovery("{base}")),
        (
            "/token",
            "400 Bad Request",
            json!({"error": "invalid_grant"}).to_string(),
        ),
    ])
    .await;
    let err = provider(&base).exchange_code("code", "verifier").await;
    assert!(
        matches!(&err, Err(ProviderError::Refused(code)) if code == "invalid_grant"),
        "{err:?}"
    );
}

#[tokio::test]
async fn keys_are_cached_and_refetched_at_most_once_per_interval() {
    let base = serve(vec![
        ("/.well-known", "200 OK", discovery("{base}")),
        (
            "/jwks",
            "200 OK",
            json!({"keys": [{"kty": "RSA", "kid": "a", "n": "nn", "e": "AQAB"}]}).to_string(),
        ),
    ])
    .await;
    let provider = provider(&base);
    assert_eq!(provider.signing_keys(false).await.unwrap().len(), 1);
    let first = provider.keys.lock().await.fetched;
    // A refresh right after a fetch is answered from the cache.
    provider.signing_keys(true).await.unwrap();
    assert_eq!(provider.keys.lock().await.fetched, first);
    provider.keys.lock().await.fetched = first.map(|at| at - Duration::from_secs(61));
    provider.signing_keys(true).await.unwrap();
    assert_ne!(provider.keys.lock().await.fetched, first);
}
