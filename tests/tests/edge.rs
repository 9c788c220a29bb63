//! The production edge over real HTTP: rate limits (in-process and shared
//! through Redis), client IPs behind proxies, CORS, compression, timeouts,
//! metrics and cookie sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use strata_tests::{Backend, TestApp, TestUser, assert_problem};

const LIMITED: &[(&str, &str)] = &[("APP__RATE_LIMIT__ENABLED", "true")];

async fn login_with(app: &TestApp, name: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": name, "password": "Wrong1234"}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_sixth_login_attempt_within_a_minute_is_429_with_retry_after() {
    let app = TestApp::spawn_with(&Backend::Sqlite, LIMITED).await;
    for attempt in 1..=5 {
        let response = login_with(&app, "victim", None).await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
        assert_eq!(response.headers()["ratelimit-limit"], "5");
        assert_eq!(
            response.headers()["ratelimit-remaining"],
            (5 - attempt).to_string().as_str()
        );
    }
    let refused = login_with(&app, "victim", None).await;
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_problem(refused, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = TestApp::spawn_with(&Backend::Sqlite, LIMITED).await;
    for i in 0..5 {
        // Different names so only the per-IP key can bind.
        let response = login_with(&app, &format!("name{i}"), Some(&format!("203.0.113.{i}"))).await;
        assert_eq!(response.status(), 401);
    }
    let response = login_with(&app, "fresh-name", Some("198.51.100.7")).await;
    assert_problem(response, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let overrides = [
        ("APP__RATE_LIMIT__ENABLED", "true"),
        ("APP__RATE_LIMIT__TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let app = TestApp::spawn_with(&Backend::Sqlite, &overrides).await;
    for i in 0..5 {
        assert_eq!(
            login_with(&app, &format!("a{i}"), Some("203.0.113.1"))
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        login_with(&app, "a-next", Some("203.0.113.1"))
            .await
            .status(),
        429
    );
    // Another client behind the same proxy is unaffected...
    assert_eq!(
        login_with(&app, "b", Some("203.0.113.2")).await.status(),
        401
    );
    // ...and a client cannot forge its way out: the proxy appends the real
    // address, and the nearest untrusted hop is what counts.
    assert_eq!(
        login_with(&app, "c", Some("10.9.9.9, 203.0.113.1"))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn the_default_budget_applies_per_user_and_sets_ratelimit_headers() {
    let overrides = [
        ("APP__RATE_LIMIT__ENABLED", "true"),
        ("APP__RATE_LIMIT__PER_MINUTE", "3"),
    ];
    let app = TestApp::spawn_with(&Backend::Sqlite, &overrides).await;
    let tokens = app.registered(&TestUser::generate()).await;
    for remaining in ["2", "1", "0"] {
        let response = app.get("/api/v1/users/me", Some(&tokens.access)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
    }
    assert_problem(
        app.get("/api/v1/users/me", Some(&tokens.access)).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    // Operational endpoints are not rate limited.
    assert_eq!(app.get("/health", None).await.status(), 200);
    assert!(
        app.get("/health", None)
            .await
            .headers()
            .get("ratelimit-limit")
            .is_none()
    );
}

#[tokio::test]
async fn two_instances_sharing_one_redis_enforce_one_budget() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!(
            "TEST_REDIS_URL is not set: the shared-budget test runs in CI, where .ci/run starts Redis"
        );
        return;
    };
    let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
    let overrides = [
        ("APP__RATE_LIMIT__ENABLED", "true"),
        ("APP__REDIS__URL", redis_url.as_str()),
        ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
    ];
    let first = TestApp::spawn_with(&Backend::Sqlite, &overrides).await;
    let second = TestApp::spawn_with(&Backend::Sqlite, &overrides).await;
    let mut statuses = vec![];
    for i in 0..6 {
        let app = if i % 2 == 0 { &first } else { &second };
        statuses.push(
            login_with(app, &format!("n{i}"), None)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429],
        "one budget of 5 across both instances"
    );
}

#[tokio::test]
async fn compression_is_negotiated_and_skipped_for_tiny_bodies() {
    let app = TestApp::spawn(&Backend::Sqlite).await;
    let tokens = app.registered(&TestUser::generate()).await;
    for i in 0..30 {
        app.post_json(
            "/api/v1/posts",
            &json!({"title": format!("Post {i}"), "body": "lorem ipsum ".repeat(20)}),
            Some(&tokens.access),
        )
        .await;
    }
    let get = |encoding: Option<&'static str>, path: &'static str| {
        let mut req = app.client.get(app.url(path));
        if let Some(e) = encoding {
            req = req.header("accept-encoding", e);
        }
        req.send()
    };
    let gzip = get(Some("gzip"), "/api/v1/posts?limit=30").await.unwrap();
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    let br = get(Some("br"), "/api/v1/posts?limit=30").await.unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    let plain = get(None, "/api/v1/posts?limit=30").await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(
        plain.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    let tiny = get(Some("gzip"), "/health").await.unwrap();
    assert!(
        tiny.headers().get("content-encoding").is_none(),
        "15 bytes are not worth compressing"
    );
}

#[tokio::test]
async fn cors_preflight_answers_configured_origins_only() {
    let overrides = [("APP__CORS__ALLOWED_ORIGINS", "https://app.example")];
    let app = TestApp::spawn_with(&Backend::Sqlite, &overrides).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/items"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        allowed.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(refused.status().is_client_error());
}

#[tokio::test]
async fn a_slow_client_is_disconnected() {
    let overrides = [("APP__SERVER__CLIENT_REQUEST_TIMEOUT_SECS", "1")];
    let app = TestApp::spawn_with(&Backend::Sqlite, &overrides).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Half a request head, then nothing: a slow-loris client.
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        let mut buffer = Vec::new();
        let _ = stream.read_to_end(&mut buffer);
        (
            started.elapsed(),
            String::from_utf8_lossy(&buffer).into_owned(),
        )
    })
    .await
    .unwrap();
    let (waited, answer) = outcome;
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_request_whose_body_never_finishes_is_abandoned_with_a_503_problem() {
    let overrides = [("APP__SERVER__REQUEST_TIMEOUT_SECS", "1")];
    let app = TestApp::spawn_with(&Backend::Sqlite, &overrides).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
            .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
            .unwrap();
        let mut buffer = [0u8; 4096];
        let n = stream.read(&mut buffer).unwrap_or(0);
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("application/problem+json") && answer.contains("SERVICE_UNAVAILABLE"),
        "{answer}"
    );
}

#[tokio::test]
async fn metrics_expose_route_patterns_security_counters_and_pool_gauges() {
    let app = TestApp::spawn_with(
        &Backend::Sqlite,
        &[("APP__METRICS__TOKEN", "scrape-secret")],
    )
    .await;
    let user = TestUser::generate();
    let tokens = app.registered(&user).await;
    let item = app
        .post_json(
            "/api/v1/items",
            &json!({"title": "x"}),
            Some(&tokens.access),
        )
        .await;
    let id = item.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/api/v1/items/{id}"), Some(&tokens.access))
        .await;
    app.login(&user.username, "Wrong1234").await;
    app.login(&user.username, &user.password).await;
    // A wrong method on a path with a parameter: counted under its pattern.
    let wrong = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/items/{id}"),
            Some(&tokens.access),
            None,
        )
        .await;
    assert_eq!(wrong.status(), 405);

    assert_problem(app.get("/metrics", None).await, 401, "UNAUTHENTICATED").await;
    assert_eq!(app.get("/metrics", Some("wrong")).await.status(), 401);
    // Gauges are refreshed every few seconds.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let response = app.get("/metrics", Some("scrape-secret")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"route="/api/v1/items/{id}""#),
        "patterns, not raw paths"
    );
    assert!(!text.contains(&id), "no raw ids in labels");
    assert!(
        text.contains(
            r#"http_requests_total{method="PUT",route="/api/v1/items/{id}",status="405"} 1"#
        ),
        "405s are counted under the route pattern"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"strata_logins_total{result="failure"}"#));
    assert!(text.contains(r#"strata_logins_total{result="success"}"#));
    assert!(text.contains("strata_db_pool_connections"));
}

#[tokio::test]
async fn cookie_sessions_set_httponly_cookies_and_require_the_csrf_token() {
    let app =
        TestApp::spawn_with(&Backend::Sqlite, &[("APP__AUTH__COOKIE_SESSIONS", "true")]).await;
    let user = TestUser::generate();
    app.registered(&user).await;
    let response = app.login(&user.username, &user.password).await;
    assert_eq!(response.status(), 200);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let refresh_cookie = cookies
        .iter()
        .find(|c| c.starts_with("strata_refresh="))
        .unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(refresh_cookie.contains(attribute), "{refresh_cookie}");
    }
    let csrf_cookie = cookies
        .iter()
        .find(|c| c.starts_with("strata_csrf="))
        .unwrap();
    assert!(
        !csrf_cookie.contains("HttpOnly"),
        "the CSRF cookie must be readable by the page"
    );
    let value = |c: &str| {
        c.split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned()
    };
    let (refresh, csrf) = (value(refresh_cookie), value(csrf_cookie));
    let cookie_header = format!("strata_refresh={refresh}; strata_csrf={csrf}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["access_token"].is_string(),
        "bearer clients are unaffected"
    );

    let cookie_refresh = |csrf_header: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", &cookie_header);
        if let Some(h) = csrf_header {
            req = req.header("x-csrf-token", h);
        }
        req.send()
    };
    assert_problem(cookie_refresh(None).await.unwrap(), 403, "FORBIDDEN").await;
    assert_problem(
        cookie_refresh(Some("forged".into())).await.unwrap(),
        403,
        "FORBIDDEN",
    )
    .await;
    let refreshed = cookie_refresh(Some(csrf.clone())).await.unwrap();
    assert_eq!(refreshed.status(), 200);
    let new_cookies: Vec<String> = refreshed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let new_refresh = value(
        new_cookies
            .iter()
            .find(|c| c.starts_with("strata_refresh="))
            .unwrap(),
    );
    let new_csrf = value(
        new_cookies
            .iter()
            .find(|c| c.starts_with("strata_csrf="))
            .unwrap(),
    );
    assert_ne!(new_refresh, refresh, "the cookie rotates with the token");

    // Logout by cookie ends the session and clears both cookies.
    let logout = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header(
            "cookie",
            format!("strata_refresh={new_refresh}; strata_csrf={new_csrf}"),
        )
        .header("x-csrf-token", &new_csrf)
        .send()
        .await
        .unwrap();
    let status = logout.status();
    let headers = logout.headers().clone();
    if status != 204 {
        panic!("logout: {status} {:?}", logout.text().await);
    }
    let logout_headers = headers;
    let cleared: Vec<String> = logout_headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("strata_refresh=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_eq!(app.refresh(&new_refresh).await.status(), 401);
}
