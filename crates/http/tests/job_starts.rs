//! Handler tests for the routes that start jobs, with a mocked `JobService`:
//! user exports and item imports (media type, size limit, refusals).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::{self, TestRequest};
use serde_json::{Value, json};
use strata_domain::ValidationErrors;
use strata_domain::jobs::JobStatus;
use strata_domain::validation::Violation;
use strata_http::HttpSettings;
use strata_service::ServiceError;
use strata_service::jobs::ExportFormat;

mod common;

use common::*;

#[actix_web::test]
async fn an_export_is_queued_with_202_and_location() {
    for (request, format) in [
        (json!({"format": "json"}), ExportFormat::Json),
        (json!({}), ExportFormat::Csv),
    ] {
        let mut mocks = Mocks::new();
        mocks
            .jobs
            .expect_start_user_export()
            .withf(move |caller, f, once| *caller == admin() && *f == format && once.is_none())
            .returning(|_, _, _| Ok(job(JobStatus::Queued)));
        let req = TestRequest::post()
            .uri("/api/v1/users/exports")
            .insert_header(bearer(ADMIN_TOKEN))
            .set_json(request);
        let (status, headers, body) = call(mocks, req).await;
        assert_accepted(status.as_u16(), &headers, &body);
        assert_eq!(body["status"], "queued");
    }
}

#[actix_web::test]
async fn an_unknown_export_format_is_named_and_a_non_admin_refused() {
    let mut mocks = Mocks::new();
    mocks.jobs.expect_start_user_export().never();
    let req = TestRequest::post()
        .uri("/api/v1/users/exports")
        .insert_header(bearer(ADMIN_TOKEN))
        .set_json(json!({"format": "xml"}));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(body["errors"][0]["field"], "format");
    assert_eq!(body["errors"][0]["code"], "enum");

    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_start_user_export()
        .returning(|_, _, _| Err(ServiceError::Forbidden));
    let req = TestRequest::post()
        .uri("/api/v1/users/exports")
        .insert_header(bearer(TOKEN))
        .set_json(json!({}));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 403);
    assert_problem(&headers, &body, 403, "FORBIDDEN");
}

fn import(content_type: &str, body: &'static str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/items/imports")
        .insert_header(bearer(TOKEN))
        .insert_header(("content-type", content_type))
        .set_payload(body)
}

const CSV: &str = "title,description\nMilk,2 litres\n";

#[actix_web::test]
async fn an_import_takes_csv_and_answers_202_with_location() {
    for content_type in [
        "text/csv",
        "Text/CSV; charset=UTF-8",
        "text/csv;header=present",
    ] {
        let mut mocks = Mocks::new();
        mocks
            .jobs
            .expect_start_item_import()
            .withf(|caller, csv, once| {
                *caller == principal() && csv.as_slice() == CSV.as_bytes() && once.is_none()
            })
            .returning(|_, _, _| {
                let mut job = job(JobStatus::Queued);
                job.kind = "import_items".into();
                Ok(job)
            });
        let (status, headers, body) = call(mocks, import(content_type, CSV)).await;
        assert_accepted(status.as_u16(), &headers, &body);
        assert_eq!(body["kind"], "import_items");
    }
}

#[actix_web::test]
async fn an_import_that_is_not_csv_is_415() {
    for content_type in ["application/json", "text/plain", "text/csv; charset=latin1"] {
        let mut mocks = Mocks::new();
        mocks.jobs.expect_start_item_import().never();
        let (status, headers, body) = call(mocks, import(content_type, CSV)).await;
        assert_eq!(status, 415, "{content_type}");
        assert_problem(&headers, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
}

#[actix_web::test]
async fn an_import_over_the_limit_is_413_declared_or_not() {
    let mut mocks = Mocks::new();
    mocks.jobs.expect_start_item_import().never();
    let settings = HttpSettings {
        import_max_bytes: CSV.len() - 1,
        ..HttpSettings::default()
    };
    let app = test::init_service(strata_http::app(mocks.state(), settings)).await;
    let declared = import("text/csv", CSV).to_request();
    let mut streamed = import("text/csv", CSV).to_request();
    streamed.headers_mut().remove("content-length");
    for req in [declared, streamed] {
        let res = test::call_service(&app, req).await;
        let status = res.status();
        let headers = res.headers().clone();
        let body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        assert_eq!(status, 413);
        assert_problem(&headers, &body, 413, "PAYLOAD_TOO_LARGE");
    }
}

#[actix_web::test]
async fn an_import_the_service_refuses_is_422_on_body() {
    let mut mocks = Mocks::new();
    mocks.jobs.expect_start_item_import().returning(|_, _, _| {
        Err(ServiceError::Validation(ValidationErrors::single(
            "body",
            Violation::new("format", "the header row must be `title,description`"),
        )))
    });
    let (status, headers, body) = call(mocks, import("text/csv", "name\nMilk\n")).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(error_fields(&body), ["body"]);
}

#[actix_web::test]
async fn the_fixed_job_starting_paths_are_not_taken_for_ids() {
    for (uri, allow) in [
        ("/api/v1/users/exports", "POST"),
        ("/api/v1/items/imports", "POST"),
    ] {
        let req = TestRequest::get()
            .uri(uri)
            .insert_header(bearer(ADMIN_TOKEN));
        let (status, headers, body) = call(Mocks::new(), req).await;
        assert_eq!(status, 405, "{uri}: {body}");
        assert_eq!(headers.get("allow").unwrap(), allow, "{uri}");
    }
}
