//! `crates/http/tests/<plural>.rs`: handler tests over a mocked service.

use super::{sample, sections};
use crate::spec::{Kind, Resource};

const TESTS: &str = r#"//! Handler tests of `/api/v1/__types__` over a mocked service (generated
//! by `cargo xtask scaffold`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix_web::test::{self, TestRequest};
use serde_json::{Value, json};
use strata_domain::page::Page;
use strata_http::{AppState, HttpSettings};
use strata_service::ServiceError;
use strata_service::__types__::Mock__Type__Service;
use uuid::Uuid;

mod common;

use common::{ADMIN_TOKEN, Mocks, TOKEN, assert_problem, bearer};

async fn call(service: Mock__Type__Service, req: TestRequest) -> (u16, Value) {
    let state = AppState {
        __types__: Arc::new(service),
        ..Mocks::new().state()
    };
    let app = test::init_service(strata_http::app(state, HttpSettings::default())).await;
    let res = test::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status >= 400 {
        assert_problem(&headers, &body, status, body["code"].as_str().unwrap());
    }
    (status, body)
}

fn valid() -> Value {
    json!({__VALID__})
}

#[actix_web::test]
async fn a_body_that_breaks_a_rule_is_422_and_reaches_no_service() {
    let mut service = Mock__Type__Service::new();
    service.expect_create().never();
    let mut body = valid();
    body["not_a_field"] = json!(1);
    let req = TestRequest::post()
        .uri("/api/v1/__types__")
        .insert_header(bearer(ADMIN_TOKEN))
        .set_json(body);
    let (status, problem) = call(service, req).await;
    assert_eq!(status, 422, "{problem}");
__BAD_FIELD__}

#[actix_web::test]
async fn a_page_uses_the_envelope_and_an_unknown_sort_is_422() {
    let mut service = Mock__Type__Service::new();
    service
        .expect_list()
        .withf(|__LIST_ARGS__| page.limit() == 5)
        .returning(|__LIST_RETURN_ARGS__| Ok(Page::new(vec![], 0, page)));
    let req = TestRequest::get()
        .uri("/api/v1/__types__?limit=5")
        .insert_header(bearer(TOKEN));
    let (status, body) = call(service, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 0);
    assert_eq!(body["limit"], 5);
    let req = TestRequest::get()
        .uri("/api/v1/__types__?sort=password")
        .insert_header(bearer(TOKEN));
    let (status, _) = call(Mock__Type__Service::new(), req).await;
    assert_eq!(status, 422);
}

#[actix_web::test]
async fn a_missing_row_is_404_as_problem_json() {
    let mut service = Mock__Type__Service::new();
    service
        .expect_delete()
        .returning(|_, _| Err(ServiceError::NotFound));
    let req = TestRequest::delete()
        .uri(&format!("/api/v1/__types__/{}", Uuid::nil()))
        .insert_header(bearer(ADMIN_TOKEN));
    let (status, body) = call(service, req).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "NOT_FOUND");
}
"#;

pub fn render(r: &Resource) -> String {
    let valid = r
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("\"{}\": {}", f.name, sample(f, i as u32 + 1)))
        .collect::<Vec<_>>()
        .join(", ");
    let bad = r
        .fields
        .iter()
        .find(|f| f.kind == Kind::String)
        .map(|f| {
            format!(
                "\n    // Every broken rule is named.\n    \
                 let mut service = Mock__Type__Service::new();\n    \
                 service.expect_create().never();\n    \
                 let mut body = valid();\n    \
                 body[\"{n}\"] = json!(\"x\".repeat(201));\n    \
                 let req = TestRequest::post()\n        \
                 .uri(\"/api/v1/__types__\")\n        \
                 .insert_header(bearer(ADMIN_TOKEN))\n        \
                 .set_json(body);\n    \
                 let (status, problem) = call(service, req).await;\n    \
                 assert_eq!(status, 422);\n    \
                 assert_eq!(problem[\"errors\"][0][\"field\"], \"{n}\");\n",
                n = f.name
            )
        })
        .unwrap_or_default();
    let (list_args, list_return) = if r.flavour == crate::spec::Flavour::Owned {
        ("_, _, _, page", "_, _, _, page")
    } else {
        ("_, _, page", "_, _, page")
    };
    let t = TESTS
        .replace("__VALID__", &valid)
        .replace("__BAD_FIELD__", &bad)
        .replace("__LIST_ARGS__", list_args)
        .replace("__LIST_RETURN_ARGS__", list_return);
    sections(&t, r)
}
