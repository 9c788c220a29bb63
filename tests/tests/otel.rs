//! Request spans reach an OTLP/HTTP collector when one is configured. This
//! binary owns the process-wide subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use strata::config::{LogFormat, LogSettings, TelemetrySettings};
use strata_tests::{Backend, TestApp};

/// What the collector saw of one request: its line, content type and body size.
type Seen = Arc<Mutex<Vec<(String, String, usize)>>>;

/// A stand-in collector that records every request it receives.
fn collector() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            record
                .lock()
                .unwrap()
                .push((line.trim().to_owned(), content_type, body.len()));
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (address, seen)
}

#[tokio::test]
async fn request_spans_are_exported_over_otlp_http_when_an_endpoint_is_set() {
    let (endpoint, seen) = collector();
    let log = LogSettings {
        format: LogFormat::Json,
        level: "warn".into(),
    };
    let telemetry = strata::telemetry::init_with_tracing(
        &log,
        &TelemetrySettings {
            otlp_endpoint: Some(endpoint),
        },
    )
    .unwrap();
    let app = TestApp::spawn(&Backend::Sqlite).await;
    for _ in 0..3 {
        assert_eq!(app.get("/health", None).await.status(), 200);
    }
    // Shutting the exporter down flushes its batch.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();
    let requests = seen.lock().unwrap().clone();
    let export = requests
        .iter()
        .find(|(line, _, _)| line.starts_with("POST /v1/traces"));
    let (_, content_type, size) =
        export.unwrap_or_else(|| panic!("no export reached the collector: {requests:?}"));
    assert_eq!(content_type, "application/x-protobuf");
    assert!(*size > 0);
}
