//! `http_requests_total` and `http_request_duration_seconds`: one series per
//! method, route pattern and status, recorded by the edge on every request.
//!
//! They are kept here rather than in the `metrics` recorder because of their
//! cost on the hot path: the exporter's histogram pushes every sample, with a
//! clock read, into an epoch-managed queue that upkeep later drains, which the
//! liveness benchmark measured at about 90 ns per request. Fixed buckets of
//! relaxed atomics cost three additions. `/metrics` renders them next to the
//! recorder's families, in the same text format (ADR 0008).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Upper bounds of the latency buckets in seconds, from sub-millisecond cache
/// hits to timeouts.
pub(super) const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The counts of one label set. Buckets are stored per interval (the last one
/// past every bound) and made cumulative when rendered, so a sample is one
/// increment; the total is their sum, which keeps `+Inf` and `_count` equal.
#[derive(Debug)]
struct Series {
    method: &'static str,
    route: String,
    status: u16,
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Series {
    fn record(&self, seconds: f64) {
        let index = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        // Saturating float-to-int: a negative or absurd value cannot wrap.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let nanos = (seconds * 1e9) as u64;
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Every series of the process, for rendering. Label sets are bounded (route
/// patterns, a fixed set of method labels, status codes), so this only grows
/// to a few hundred entries.
static SERIES: Mutex<Vec<Arc<Series>>> = Mutex::new(Vec::new());

/// A worker's handles of one route: (method, status, series).
type RouteSeries = Vec<(&'static str, u16, Arc<Series>)>;

thread_local! {
    /// Per worker thread, so finding a request's series takes no lock.
    static LOCAL: RefCell<HashMap<String, RouteSeries>> = RefCell::new(HashMap::new());
}

/// The process-wide series of a label set, created on first use.
fn shared_series(method: &'static str, route: &str, status: u16) -> Arc<Series> {
    let mut all = SERIES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = all
        .iter()
        .find(|s| s.method == method && s.status == status && s.route == route)
    {
        return Arc::clone(found);
    }
    let series = Arc::new(Series {
        method,
        route: route.to_owned(),
        status,
        buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        sum_nanos: AtomicU64::new(0),
    });
    all.push(Arc::clone(&series));
    series
}

/// Records one finished request.
pub(super) fn record(method: &'static str, route: &str, status: u16, seconds: f64) {
    LOCAL.with_borrow_mut(|routes| {
        let by_route = match routes.get_mut(route) {
            Some(entries) => entries,
            None => routes.entry(route.to_owned()).or_default(),
        };
        if let Some((_, _, series)) = by_route
            .iter()
            .find(|(m, s, _)| *m == method && *s == status)
        {
            series.record(seconds);
            return;
        }
        let series = shared_series(method, route, status);
        series.record(seconds);
        by_route.push((method, status, series));
    });
}

/// Appends both families in the Prometheus text format (version 0.0.4).
pub(super) fn render(out: &mut String) {
    let all: Vec<Arc<Series>> = SERIES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if all.is_empty() {
        return;
    }
    // Each series' buckets, read once so its lines agree with each other.
    let snapshots: Vec<(String, [u64; BUCKETS.len() + 1], f64)> = all
        .iter()
        .map(|s| {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                s.method,
                escape(&s.route),
                s.status
            );
            let buckets = std::array::from_fn(|i| s.buckets[i].load(Ordering::Relaxed));
            #[allow(clippy::cast_precision_loss)]
            let sum = s.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            (labels, buckets, sum)
        })
        .collect();

    out.push_str("# HELP http_requests_total Finished HTTP requests.\n");
    out.push_str("# TYPE http_requests_total counter\n");
    for (labels, buckets, _) in &snapshots {
        let total: u64 = buckets.iter().sum();
        let _ = writeln!(out, "http_requests_total{{{labels}}} {total}");
    }
    out.push_str(
        "# HELP http_request_duration_seconds Time from receiving a request to its response head.\n",
    );
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    for (labels, buckets, sum) in &snapshots {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += buckets[BUCKETS.len()];
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{{labels}}} {cumulative}"
        );
    }
}

/// Label values escaped as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> String {
        let mut out = String::new();
        render(&mut out);
        out
    }

    #[test]
    fn samples_land_in_cumulative_buckets_with_matching_count_and_sum() {
        record("GET", "/test/buckets", 200, 0.0004);
        record("GET", "/test/buckets", 200, 0.003);
        record("GET", "/test/buckets", 200, 42.0);
        let text = rendered();
        let labels = r#"method="GET",route="/test/buckets",status="200""#;
        for (le, expected) in [
            ("0.0005", 1),
            ("0.0025", 1),
            ("0.005", 2),
            ("10", 2),
            ("+Inf", 3),
        ] {
            let line = format!(
                "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {expected}\n"
            );
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
    fn label_sets_are_separate_and_shared_across_threads() {
        record("POST", "/test/threads", 201, 0.01);
        std::thread::spawn(|| record("POST", "/test/threads", 201, 0.01))
            .join()
            .unwrap();
        record("POST", "/test/threads", 409, 0.01);
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
    fn label_values_are_escaped() {
        record("GET", "/test/\"quoted\"\\", 404, 0.001);
        assert!(rendered().contains(r#"route="/test/\"quoted\"\\""#));
    }
}
