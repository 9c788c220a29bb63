//! `http_requests_total` and `http_request_duration_seconds`: one series per
//! method, route pattern and status, recorded by the edge on every request.
//!
//! They are kept here rather than in the `metrics` recorder because of their
//! cost on the hot path: the exporter's histogram pushes every sample, with a
//! clock read, into an epoch-managed queue that upkeep later drains, which the
//! liveness benchmark measured at about 90 ns per request. Here each worker
//! thread counts into fixed buckets of its own, with plain loads and stores,
//! and `/metrics` adds the workers' counts up and renders them next to the
//! recorder's families, in the same text format (ADR 0008).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::http::Method;

/// Upper bounds of the latency buckets in seconds, from sub-millisecond cache
/// hits to timeouts.
pub(super) const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One worker's counts of one label set. Buckets are stored per interval (the
/// last one past every bound) and made cumulative when rendered, so a sample
/// is one increment; the total is their sum, which keeps `+Inf` and `_count`
/// equal. Only the worker that created a series writes to it, so an update is
/// a plain load and store, with no locked read-modify-write; `/metrics` adds
/// up the workers' series of each label set.
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
        add(&self.buckets[index], 1);
        // Saturating float-to-int: a negative or absurd value cannot wrap.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let nanos = (seconds * 1e9) as u64;
        add(&self.sum_nanos, nanos);
    }
}

/// An addition by the single writer of `cell`: readers see either value.
fn add(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Every series of the process, for rendering. Label sets are bounded (route
/// patterns, a fixed set of method labels, status codes), so this only grows
/// to a few hundred entries per worker.
static SERIES: Mutex<Vec<Arc<Series>>> = Mutex::new(Vec::new());

/// The label of requests no route matched.
const UNMATCHED: &str = "<unmatched>";

/// The method labels, by [`MethodLabel`].
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];

/// A bounded method label, as its index in [`METHODS`]: a client inventing
/// methods must not be able to create label sets without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MethodLabel(u8);

impl MethodLabel {
    fn of(method: &Method) -> Self {
        Self(match *method {
            Method::GET => 0,
            Method::POST => 1,
            Method::PUT => 2,
            Method::PATCH => 3,
            Method::DELETE => 4,
            Method::HEAD => 5,
            Method::OPTIONS => 6,
            _ => 7,
        })
    }

    fn name(self) -> &'static str {
        METHODS[usize::from(self.0)]
    }

    fn bit(self) -> u8 {
        1 << self.0
    }
}

/// A worker's view of one route label.
#[derive(Debug, Default)]
struct LocalRoute {
    /// The series of this route by (method, status).
    series: Vec<(MethodLabel, u16, Arc<Series>)>,
    /// One bit per method label: requests of that method whose path equals
    /// this label match exactly this route (it has no parameters), so their
    /// label needs no look-up in the router's resource map.
    literal_for: u8,
}

impl LocalRoute {
    fn record(&mut self, method: MethodLabel, route: &str, status: u16, seconds: f64) {
        if let Some((_, _, series)) = self
            .series
            .iter()
            .find(|(m, s, _)| *m == method && *s == status)
        {
            series.record(seconds);
            return;
        }
        let series = new_series(method.name(), route, status);
        series.record(seconds);
        self.series.push((method, status, series));
    }
}

type LocalRoutes = HashMap<String, LocalRoute, foldhash::fast::RandomState>;

thread_local! {
    /// Per worker thread, so finding a request's series takes no lock.
    static LOCAL: RefCell<LocalRoutes> = RefCell::new(LocalRoutes::default());
}

/// A new series for the calling worker, listed for rendering.
fn new_series(method: &'static str, route: &str, status: u16) -> Arc<Series> {
    let series = Arc::new(Series {
        method,
        route: route.to_owned(),
        status,
        buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        sum_nanos: AtomicU64::new(0),
    });
    SERIES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::clone(&series));
    series
}

/// Records one finished request of `method` to `path`, and hands its route
/// label (the matched pattern, never the raw path, so ids do not explode the
/// label set) to `then`. `pattern` names the matched route pattern; it is
/// called only for paths not yet known to be literal routes, and its answer
/// for a (method, path) pair never changes while the process runs, because
/// the routes do not.
pub(crate) fn record<R>(
    method: &Method,
    path: &str,
    pattern: impl FnOnce() -> Option<String>,
    status: u16,
    seconds: f64,
    then: impl FnOnce(Option<&str>) -> R,
) -> R {
    let method = MethodLabel::of(method);
    let bit = method.bit();
    LOCAL.with_borrow_mut(|routes| {
        if let Some(route) = routes.get_mut(path)
            && route.literal_for & bit != 0
        {
            route.record(method, path, status, seconds);
            return then(Some(path));
        }
        let label = pattern();
        let key = label.as_deref().unwrap_or(UNMATCHED);
        let route = match routes.get_mut(key) {
            Some(route) => route,
            None => routes.entry(key.to_owned()).or_default(),
        };
        // Only paths equal to a registered pattern are remembered, so what a
        // client can add here is bounded by the routes.
        if key == path {
            route.literal_for |= bit;
        }
        route.record(method, key, status, seconds);
        then(label.as_deref())
    })
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
    // Each series' buckets, read once so its lines agree with each other,
    // and the workers' series of one label set added up.
    let mut snapshots: Vec<(String, [u64; BUCKETS.len() + 1], f64)> = Vec::new();
    let mut index: HashMap<(&str, &str, u16), usize> = HashMap::new();
    for s in &all {
        let at = *index
            .entry((s.method, s.route.as_str(), s.status))
            .or_insert_with(|| {
                let labels = format!(
                    "method=\"{}\",route=\"{}\",status=\"{}\"",
                    s.method,
                    escape(&s.route),
                    s.status
                );
                snapshots.push((labels, [0; BUCKETS.len() + 1], 0.0));
                snapshots.len() - 1
            });
        let (_, buckets, sum) = &mut snapshots[at];
        for (total, bucket) in buckets.iter_mut().zip(&s.buckets) {
            *total += bucket.load(Ordering::Relaxed);
        }
        #[allow(clippy::cast_precision_loss)]
        let seconds = s.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        *sum += seconds;
    }

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
#[path = "requests_tests.rs"]
mod tests;
