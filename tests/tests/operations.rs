//! Health, docs and the OpenAPI document over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use strata_tests::for_each_backend;

#[tokio::test]
async fn liveness_and_readiness_answer_ok_with_a_live_database() {
    for_each_backend(|app| async move {
        let response = app.get("/health", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            serde_json::json!({"status": "ok"})
        );
        let ready: Value = app.get("/health/ready", None).await.json().await.unwrap();
        // On PostgreSQL the bus has a transport (LISTEN), which readiness
        // reports; in-process on SQLite it has none.
        let mut checks = serde_json::json!({"database": "ok", "jobs": "ok"});
        if app.database.url.starts_with("postgres") {
            checks["events"] = "ok".into();
        }
        assert_eq!(ready, serde_json::json!({"status": "ok", "checks": checks}));
    })
    .await;
}

#[tokio::test]
async fn the_served_document_and_swagger_ui_work_offline() {
    for_each_backend(|app| async move {
        let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
        assert!(doc["paths"]["/api/v1/auth/login"]["post"].is_object());
        assert_eq!(doc, serde_json::to_value(strata_http_document()).unwrap());
        let html = app.get("/docs/", None).await.text().await.unwrap();
        assert!(html.contains("swagger-ui"), "{html}");
        let initializer = app
            .get("/docs/swagger-initializer.js", None)
            .await
            .text()
            .await
            .unwrap();
        assert!(initializer.contains("/openapi.json"), "{initializer}");
        for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
            assert_eq!(
                app.get(&format!("/docs/{asset}"), None).await.status(),
                200,
                "{asset}"
            );
        }
    })
    .await;
}

fn strata_http_document() -> Value {
    // The binary's `strata openapi` prints this same document.
    serde_json::to_value(strata::cli::openapi_document()).unwrap()
}
