//! The WebSocket's benchmark (not a test): many sockets on one running
//! instance, and user events published on its Redis bus from outside (as
//! another instance or a worker process would), fanned out to the sockets.
//!
//! `strata-realtime-bench --server http://127.0.0.1:PORT --pid PID
//! --redis-url URL --channel CHANNEL [--users 100] [--sockets-per-user 10]
//! [--events-per-second 500] [--seconds 10]`
//!
//! Each event goes to one user, so every event is one message on each of
//! that user's sockets: 500 events/s to users with 10 sockets each is 5,000
//! messages/s. An event carries the wall-clock time it was published; the
//! client notes when each message arrives (same machine, same clock). The
//! server's memory is read from `/proc/PID/status` before and after the
//! sockets open, and its CPU time from `/proc/PID/stat` across the run.
//! `bench/realtime.sh` starts the server and runs this.

// A command-line tool: its output is its report.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use strata_domain::events::{Event, EventBus, EventPayload, Topic};
use strata_domain::realtime::{UserEvent, UserEventKind};
use strata_events::RedisBus;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

struct Args {
    server: String,
    pid: u32,
    redis_url: String,
    channel: String,
    users: usize,
    sockets_per_user: usize,
    events_per_second: u64,
    seconds: u64,
}

fn args() -> Args {
    let mut map: HashMap<String, String> = HashMap::new();
    let mut raw = std::env::args().skip(1);
    while let (Some(key), Some(value)) = (raw.next(), raw.next()) {
        map.insert(key.trim_start_matches("--").to_owned(), value);
    }
    let get =
        |key: &str, default: &str| map.get(key).cloned().unwrap_or_else(|| default.to_owned());
    Args {
        server: get("server", "http://127.0.0.1:8080"),
        pid: get("pid", "0").parse().expect("--pid"),
        redis_url: get("redis-url", "redis://127.0.0.1:6379"),
        channel: get("channel", "strata:events"),
        users: get("users", "100").parse().expect("--users"),
        sockets_per_user: get("sockets-per-user", "10")
            .parse()
            .expect("--sockets-per-user"),
        events_per_second: get("events-per-second", "500")
            .parse()
            .expect("--events-per-second"),
        seconds: get("seconds", "10").parse().expect("--seconds"),
    }
}

fn now_micros() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros(),
    )
    .unwrap_or(u64::MAX)
}

/// `VmRSS` of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of `pid`, in clock ticks (100 per second).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the whole line.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

/// Registers a user and returns its id and access token.
async fn user(client: &reqwest::Client, server: &str, n: usize) -> (Uuid, String) {
    let tag = Uuid::new_v4().simple().to_string();
    let name = format!("bench{n}x{}", &tag[..8]);
    let registered = post(
        client,
        format!("{server}/api/v1/auth/register"),
        None,
        json!({"email": format!("{name}@example.com"), "username": name, "password": "Bench-pass-123"}),
    )
    .await;
    let token = registered["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me: Value = client
        .get(format!("{server}/api/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    (me["id"].as_str().expect("id").parse().expect("uuid"), token)
}

#[tokio::main]
async fn main() {
    let args = args();
    strata_oidc::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut users = Vec::with_capacity(args.users);
    for n in 0..args.users {
        users.push(user(&client, &args.server, n).await);
    }
    let rss_before = rss_kib(args.pid);

    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let received = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let ws_base = args.server.replacen("http://", "ws://", 1);
    let mut readers = Vec::new();
    for (_, token) in &users {
        for _ in 0..args.sockets_per_user {
            let ticket = post(
                &client,
                format!("{}/api/v1/ws/tickets", args.server),
                Some(token),
                json!({}),
            )
            .await["ticket"]
                .as_str()
                .expect("ticket")
                .to_owned();
            let (mut ws, _) =
                tokio_tungstenite::connect_async(format!("{ws_base}/api/v1/ws?ticket={ticket}"))
                    .await
                    .expect("handshake");
            let ready = ws.next().await.expect("ready").expect("ready");
            assert!(ready.to_text().unwrap_or_default().contains("ready"));
            let (latencies, received, closed) =
                (latencies.clone(), received.clone(), closed.clone());
            readers.push(tokio::spawn(async move {
                while let Some(Ok(message)) = ws.next().await {
                    match message {
                        Message::Text(text) => {
                            let at = now_micros();
                            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            if let Some(sent) = value["data"]["sent_us"].as_u64() {
                                latencies
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(at.saturating_sub(sent));
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Message::Close(_) => {
                            closed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        _ => {}
                    }
                }
            }));
        }
    }
    let sockets = readers.len() as u64;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(args.pid);

    let bus = RedisBus::connect(&args.redis_url, &args.channel)
        .await
        .expect("redis");
    let total = args.events_per_second * args.seconds;
    let mut seqs = vec![0_u64; users.len()];
    let cpu_before = cpu_ticks(args.pid);
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (args.events_per_second / 100).max(1);
    let mut published = 0_u64;
    while published < total {
        ticker.tick().await;
        for _ in 0..per_tick.min(total - published) {
            let index = usize::try_from(published).unwrap_or(0) % users.len();
            seqs[index] += 1;
            let user_id = users[index].0;
            let event = UserEvent {
                user_id,
                seq: seqs[index],
                kind: UserEventKind::JobProgress,
                data: json!({"sent_us": now_micros(), "progress": {"percent": 50}}),
            };
            bus.publish(Event {
                topic: Topic::user(user_id),
                payload: EventPayload::User(event),
            })
            .await
            .expect("publish");
            published += 1;
        }
    }
    let publishing = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = cpu_ticks(args.pid) - cpu_before;
    let window = started.elapsed().as_secs_f64();
    let expected = total * args.sockets_per_user as u64;
    let got = received.load(Ordering::Relaxed);
    drop(bus);
    for reader in &readers {
        reader.abort();
    }
    let mut samples = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    samples.sort_unstable();
    let pick = |p: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let rank = ((samples.len() as f64) * p).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1] as f64 / 1000.0
    };
    let rate = expected as f64 / publishing.as_secs_f64();
    println!(
        "| {sockets} | {} | {rate:.0} | {got}/{expected} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} |",
        args.users,
        closed.load(Ordering::Relaxed),
        pick(0.50),
        pick(0.99),
        pick(1.0),
        (rss_after.saturating_sub(rss_before)) as f64 / sockets as f64,
        cpu as f64 / window,
    );
}
