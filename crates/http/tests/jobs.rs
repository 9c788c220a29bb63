//! Handler tests for background jobs with a mocked `JobService`: listing,
//! inspecting, cancelling, retrying and result downloads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::{self, TestRequest};
use serde_json::json;
use strata_domain::files::FileKey;
use strata_domain::jobs::JobStatus;
use strata_domain::page::Page;
use strata_http::HttpSettings;
use strata_service::ServiceError;
use strata_service::jobs::ResultFile;

mod common;

use common::*;

fn result_file(size: u64) -> ResultFile {
    ResultFile {
        key: FileKey::parse("exports/0077.csv").unwrap(),
        content_type: "text/csv; charset=utf-8".into(),
        filename: "users.csv".into(),
        size,
    }
}

#[actix_web::test]
async fn the_list_passes_the_parsed_filters_and_page_and_answers_the_envelope() {
    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_list()
        .withf(|caller, status, kind, page| {
            *caller == principal()
                && *status == Some(JobStatus::Dead)
                && kind.as_deref() == Some("export_users")
                && page.limit() == 5
                && page.offset() == 10
        })
        .returning(|_, _, _, page| Ok(Page::new(vec![job(JobStatus::Dead)], 11, page)));
    let req = TestRequest::get()
        .uri("/api/v1/jobs?status=dead&kind=export_users&limit=5&offset=10")
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 11);
    assert_eq!(body["limit"], 5);
    assert_eq!(body["offset"], 10);
    assert_eq!(body["items"][0]["status"], "dead");
    assert!(body["items"][0].get("payload").is_none());
}

#[actix_web::test]
async fn an_unknown_status_is_a_malformed_request() {
    let mut mocks = Mocks::new();
    mocks.jobs.expect_list().never();
    let req = TestRequest::get()
        .uri("/api/v1/jobs?status=exploded")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 400);
    assert_problem(&headers, &body, 400, "MALFORMED_REQUEST");
}

#[actix_web::test]
async fn a_bad_kind_is_refused_with_every_bad_parameter_named() {
    for (kind, code) in [("Export-Users", "charset"), (&*"a".repeat(65), "length")] {
        let mut mocks = Mocks::new();
        mocks.jobs.expect_list().never();
        let req = TestRequest::get()
            .uri(&format!("/api/v1/jobs?kind={kind}&limit=0"))
            .insert_header(bearer(TOKEN));
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, 422, "{kind}");
        assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
        assert_eq!(error_fields(&body), ["limit", "kind"]);
        assert_eq!(body["errors"][1]["code"], code);
    }
}

#[actix_web::test]
async fn a_job_hides_its_payload_lease_and_file_key_and_links_its_result() {
    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_get()
        .withf(|_, id| *id == JOB)
        .returning(|_, _| Ok(job(JobStatus::Succeeded)));
    let req = TestRequest::get()
        .uri(&job_uri(""))
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(
        body["progress"],
        json!({"percent": 100, "message": "3 of 3 accounts"})
    );
    assert_eq!(
        body["result"],
        json!({"rows": 3, "file": {"content_type": "text/csv; charset=utf-8",
                                   "filename": "users.csv", "bytes": 120}})
    );
    assert_eq!(body["result_url"], job_uri("/result"));
    let text = body.to_string();
    for hidden in [
        "payload",
        "secret@example.com",
        "lease",
        "host-1",
        "exports/",
        "unique",
    ] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
}

#[actix_web::test]
async fn only_a_succeeded_job_with_a_file_has_a_result_url() {
    let mut without_file = job(JobStatus::Succeeded);
    without_file.result = Some(json!({"purged": 4}));
    let mut running = job(JobStatus::Running);
    running.result = None;
    for job in [without_file, running] {
        let mut mocks = Mocks::new();
        mocks
            .jobs
            .expect_get()
            .returning(move |_, _| Ok(job.clone()));
        let req = TestRequest::get()
            .uri(&job_uri(""))
            .insert_header(bearer(TOKEN));
        let (status, _, body) = call(mocks, req).await;
        assert_eq!(status, 200);
        assert!(body["result_url"].is_null(), "{body}");
    }
}

#[actix_web::test]
async fn another_users_job_is_404() {
    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_get()
        .returning(|_, _| Err(ServiceError::NotFound));
    let req = TestRequest::get()
        .uri(&job_uri(""))
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_problem(&headers, &body, 404, "NOT_FOUND");
}

#[actix_web::test]
async fn a_recorded_cancel_is_202_and_a_finished_job_409() {
    let mut mocks = Mocks::new();
    mocks.jobs.expect_cancel().returning(|_, _| {
        let mut job = job(JobStatus::Running);
        job.cancel_requested = true;
        Ok(job)
    });
    let req = TestRequest::post()
        .uri(&job_uri("/cancel"))
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_accepted(status.as_u16(), &headers, &body);
    assert_eq!(body["cancel_requested"], true);

    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_cancel()
        .returning(|_, _| Err(ServiceError::Conflict("the job has already finished")));
    let req = TestRequest::post()
        .uri(&job_uri("/cancel"))
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 409);
    assert_problem(&headers, &body, 409, "CONFLICT");
    assert_eq!(body["detail"], "the job has already finished");
}

#[actix_web::test]
async fn a_retry_is_403_for_a_non_admin_and_202_for_an_admin() {
    let mut mocks = Mocks::new();
    mocks.jobs.expect_retry().returning(|caller, _| {
        if caller.is_admin() {
            Ok(job(JobStatus::Queued))
        } else {
            Err(ServiceError::Forbidden)
        }
    });
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let req = TestRequest::post()
        .uri(&job_uri("/retry"))
        .insert_header(bearer(TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 403);
    let req = TestRequest::post()
        .uri(&job_uri("/retry"))
        .insert_header(bearer(ADMIN_TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers().get("location").unwrap(), &job_uri(""));
}

#[actix_web::test]
async fn a_result_streams_every_chunk_with_download_headers() {
    const SIZE: usize = 150_000;
    let file: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let stored = file.clone();
    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_result_file()
        .withf(|caller, id| *caller == principal() && *id == JOB)
        .returning(|_, _| Ok(result_file(SIZE as u64)));
    mocks
        .jobs
        .expect_read_result()
        .times(3)
        .returning(move |key, offset, max| {
            assert_eq!(key.as_str(), "exports/0077.csv");
            assert!(max <= 64 * 1024);
            let start = offset as usize;
            Ok(stored[start..(start + max).min(SIZE)].to_vec())
        });
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let req = TestRequest::get()
        .uri(&job_uri("/result"))
        .insert_header(bearer(TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
    let headers = res.headers();
    assert_eq!(
        headers.get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    // `Content-Length` is written from the body's announced size.
    assert_eq!(
        actix_web::body::MessageBody::size(res.response().body()),
        actix_web::body::BodySize::Sized(SIZE as u64)
    );
    assert_eq!(
        headers.get("content-disposition").unwrap(),
        "attachment; filename=\"users.csv\""
    );
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(test::read_body(res).await.as_ref(), file.as_slice());
}

#[actix_web::test]
async fn a_result_that_is_not_ready_or_gone_gets_its_status_before_any_byte() {
    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_result_file()
        .returning(|_, _| Err(ServiceError::Conflict("the job has not succeeded")));
    let req = TestRequest::get()
        .uri(&job_uri("/result"))
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 409);
    assert_problem(&headers, &body, 409, "CONFLICT");

    let mut mocks = Mocks::new();
    mocks
        .jobs
        .expect_result_file()
        .returning(|_, _| Ok(result_file(10)));
    mocks
        .jobs
        .expect_read_result()
        .returning(|_, _, _| Err(ServiceError::NotFound));
    let req = TestRequest::get()
        .uri(&job_uri("/result"))
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_problem(&headers, &body, 404, "NOT_FOUND");
}
