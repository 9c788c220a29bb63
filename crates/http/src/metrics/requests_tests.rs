//! Tests of the request series: buckets, workers, literal routes, escaping.

use super::*;

/// A request to a parameterless route: path and pattern are the same.
fn record_at(name: &str, route: &str, status: u16, seconds: f64) {
    record(
        &method(name),
        route,
        || Some(route.to_owned()),
        status,
        seconds,
        |_| (),
    );
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

fn rendered() -> String {
    let mut out = String::new();
    render(&mut out);
    out
}

#[test]
fn samples_land_in_cumulative_buckets_with_matching_count_and_sum() {
    record_at("GET", "/test/buckets", 200, 0.0004);
    record_at("GET", "/test/buckets", 200, 0.003);
    record_at("GET", "/test/buckets", 200, 42.0);
    let text = rendered();
    let labels = r#"method="GET",route="/test/buckets",status="200""#;
    for (le, expected) in [
        ("0.0005", 1),
        ("0.0025", 1),
        ("0.005", 2),
        ("10", 2),
        ("+Inf", 3),
    ] {
        let line =
            format!("http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {expected}\n");
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains(&format!(
        "http_request_duration_seconds_count{{{labels}}} 3\n"
    )));
    assert!(text.contains(&format!("http_requests_total{{{labels}}} 3\n")));
    assert!(text.contains(&format!(
        "http_request_duration_seconds_sum{{{labels}}} 42.0034\n"
    )));
}

#[test]
fn label_sets_are_separate_and_added_up_across_workers() {
    record_at("POST", "/test/threads", 201, 0.01);
    std::thread::spawn(|| record_at("POST", "/test/threads", 201, 0.01))
        .join()
        .unwrap();
    record_at("POST", "/test/threads", 409, 0.01);
    let text = rendered();
    assert!(text.contains(
        "http_requests_total{method=\"POST\",route=\"/test/threads\",status=\"201\"} 2\n"
    ));
    assert!(text.contains(
        "http_requests_total{method=\"POST\",route=\"/test/threads\",status=\"409\"} 1\n"
    ));
    assert_eq!(
        text.matches("# TYPE http_requests_total counter").count(),
        1
    );
}

#[test]
fn a_literal_route_is_looked_up_once_and_parameters_every_time() {
    let looked_up = std::cell::Cell::new(0);
    let pattern = || {
        looked_up.set(looked_up.get() + 1);
        Some("/test/literal".to_owned())
    };
    for _ in 0..3 {
        let label = record(
            &method("GET"),
            "/test/literal",
            pattern,
            200,
            0.001,
            |label| label.map(str::to_owned),
        );
        assert_eq!(label.as_deref(), Some("/test/literal"));
    }
    assert_eq!(looked_up.get(), 1, "the path is a literal route");

    // Another method on the same path is looked up on its own: its
    // request may match another route, or none.
    let label = record(
        &method("POST"),
        "/test/literal",
        || None,
        405,
        0.001,
        |l| l.map(str::to_owned),
    );
    assert_eq!(label, None);

    let looked_up = std::cell::Cell::new(0);
    for id in 0..3 {
        let path = format!("/test/items/{id}");
        let label = record(
            &method("GET"),
            &path,
            || {
                looked_up.set(looked_up.get() + 1);
                Some("/test/items/{id}".to_owned())
            },
            200,
            0.001,
            |label| label.map(str::to_owned),
        );
        assert_eq!(label.as_deref(), Some("/test/items/{id}"));
    }
    assert_eq!(
        looked_up.get(),
        3,
        "paths with parameters are never remembered"
    );
    let text = rendered();
    assert!(text.contains(
        "http_requests_total{method=\"GET\",route=\"/test/items/{id}\",status=\"200\"} 3\n"
    ));
    assert!(
        text.contains("http_requests_total{method=\"POST\",route=\"<unmatched>\",status=\"405\"}")
    );
}

#[test]
fn label_values_are_escaped() {
    record_at("GET", "/test/\"quoted\"\\", 404, 0.001);
    assert!(rendered().contains(r#"route="/test/\"quoted\"\\""#));
}
