//! Background jobs over real HTTP with the in-process workers, on every
//! backend: an export from 202 to the downloaded file, an import with bad
//! rows, and who may see, cancel and download what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use strata_tests::{TestApp, TestUser, assert_problem, for_each_backend};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// Polls the job at `location` until it is in a terminal status.
async fn finished(app: &TestApp, location: &str, token: &str) -> Value {
    for _ in 0..300 {
        let job = body(app.get(location, Some(token)).await).await;
        let status = job["status"].as_str().unwrap().to_owned();
        if !matches!(status.as_str(), "queued" | "running") {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job at {location} never finished");
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_export_job_goes_from_202_to_a_downloaded_file_for_its_creator_only() {
    for_each_backend(|app| async move {
        let admin = app.admin().await;
        let other_admin = app.admin().await;
        let user = app.registered(&TestUser::generate()).await;

        let refused = app
            .post_json(
                "/api/v1/users/exports",
                &json!({"format": "csv"}),
                Some(&user.access),
            )
            .await;
        assert_problem(refused, 403, "FORBIDDEN").await;

        let accepted = app
            .post_json(
                "/api/v1/users/exports",
                &json!({"format": "csv"}),
                Some(&admin.access),
            )
            .await;
        assert_eq!(accepted.status(), 202);
        let location = location(&accepted);
        let created = body(accepted).await;
        assert_eq!(
            location,
            format!("/api/v1/jobs/{}", created["id"].as_str().unwrap())
        );
        assert_eq!(created["kind"], "export_users");

        let job = finished(&app, &location, &admin.access).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["progress"]["percent"], 100);
        assert_eq!(job["result"]["rows"], 3);
        assert!(job["result"]["file"].get("key").is_none(), "{job}");
        let result_url = job["result_url"].as_str().unwrap().to_owned();

        let download = app.get(&result_url, Some(&admin.access)).await;
        assert_eq!(download.status(), 200);
        assert!(
            download.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("users.csv")
        );
        let text = download.text().await.unwrap();
        assert!(text.starts_with("id,email,username,"), "{text}");
        assert_eq!(text.lines().count(), 4);

        // The file is for its requester: another admin sees the job but
        // cannot download it; a user does not see the job at all.
        assert_problem(
            app.get(&result_url, Some(&other_admin.access)).await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_problem(
            app.get(&location, Some(&user.access)).await,
            404,
            "NOT_FOUND",
        )
        .await;

        // A finished job cannot be cancelled.
        let cancel = app
            .post_json(
                &format!("{location}/cancel"),
                &json!({}),
                Some(&admin.access),
            )
            .await;
        assert_problem(cancel, 409, "CONFLICT").await;

        let mine = body(
            app.get("/api/v1/jobs?kind=export_users", Some(&admin.access))
                .await,
        )
        .await;
        assert_eq!(mine["total"], 1);
        let theirs = body(app.get("/api/v1/jobs", Some(&user.access)).await).await;
        assert_eq!(theirs["total"], 0);
    })
    .await;
}

#[tokio::test]
async fn an_import_creates_the_good_rows_and_reports_the_bad_ones_by_line() {
    for_each_backend(|app| async move {
        let user = app.registered(&TestUser::generate()).await;
        let csv = "title,description\nMilk,two litres\n,no title\n\"Eggs\",\"a dozen,\nfree range\"\nonly one cell\nBread,\n";
        let accepted = app.import_items(&user.access, csv).await;
        assert_eq!(accepted.status(), 202);
        let location = location(&accepted);

        let job = finished(&app, &location, &user.access).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["result"]["imported"], 3);
        assert_eq!(job["result"]["rejected_count"], 2);
        assert_eq!(job["result"]["rejected"][0]["line"], 3);
        assert_eq!(job["result"]["rejected"][1]["line"], 6);
        assert!(job["result_url"].is_null());

        let items = body(app.get("/api/v1/items?sort=title", Some(&user.access)).await).await;
        assert_eq!(items["total"], 3);
        let titles: Vec<&str> = items["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, vec!["Bread", "Eggs", "Milk"]);

        // A file without the header row is refused before any job exists.
        let refused = app.import_items(&user.access, "name\nx\n").await;
        assert_problem(refused, 422, "VALIDATION_FAILED").await;
        let jobs = body(app.get("/api/v1/jobs", Some(&user.access)).await).await;
        assert_eq!(jobs["total"], 1);
    })
    .await;
}
