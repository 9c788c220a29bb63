//! One open socket: the feed's events out, the client's messages in, a ping
//! every `ping_interval`, and the limits that keep a socket from costing
//! more than its share (frame size, messages per second, a send that does
//! not drain, silence).

use std::time::{Duration, Instant};

use actix_ws::{CloseCode, CloseReason as WsClose, Message, MessageStream, ProtocolError, Session};
use serde::Deserialize;
use serde_json::json;
use strata_domain::realtime::UserEvent;
use strata_service::{CloseReason, Feed, FeedItem};
use tokio::time::MissedTickBehavior;

/// The per-socket limits (`realtime.*` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct SocketLimits {
    pub ping_interval: Duration,
    /// A peer heard from less recently than this is dropped.
    pub idle_timeout: Duration,
    pub max_frame_bytes: usize,
    /// Messages (pings included) a client may send per second, on average.
    pub messages_per_second: u32,
    /// How long one message may wait for a client that does not read.
    pub send_timeout: Duration,
}

impl Default for SocketLimits {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_frame_bytes: 4096,
            messages_per_second: 10,
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// What the client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Resume { after: u64 },
}

/// How a socket ends: a close frame to send, or none when the peer is gone.
struct Ending {
    frame: Option<(u16, &'static str)>,
    reason: &'static str,
}

impl Ending {
    fn close(code: u16, why: &'static str, reason: &'static str) -> Self {
        Self {
            frame: Some((code, why)),
            reason,
        }
    }

    fn gone() -> Self {
        Self {
            frame: None,
            reason: "peer",
        }
    }

    fn of(reason: CloseReason) -> Self {
        match reason {
            CloseReason::Revoked => Self::close(4001, "session revoked", "revoked"),
            CloseReason::Expired => Self::close(4002, "token expired", "expired"),
            CloseReason::Overflow => Self::close(4008, "too slow: events overflowed", "overflow"),
            CloseReason::Unavailable => Self::close(1011, "temporarily unavailable", "unavailable"),
        }
    }
}

/// A token bucket refilled at `rate` per second, holding at most `rate`.
struct Budget {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn message(kind: &str, seq: Option<u64>, data: serde_json::Value) -> String {
    json!({"type": kind, "seq": seq, "data": data}).to_string()
}

fn event_message(event: UserEvent) -> String {
    message(event.kind.as_str(), Some(event.seq), event.data)
}

/// Serves one socket until it ends, then closes it.
pub(crate) async fn serve(
    mut session: Session,
    stream: MessageStream,
    mut feed: Box<dyn Feed>,
    limits: SocketLimits,
) {
    let mut stream = stream.max_frame_size(limits.max_frame_bytes);
    let mut budget = Budget::new(limits.messages_per_second);
    // When the client was last heard from; it is dropped `idle_timeout`
    // after that, not at the next ping after that (up to a ping later).
    let mut heard = tokio::time::Instant::now();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + limits.ping_interval,
        limits.ping_interval,
    );
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let ready = message("ready", Some(feed.opened_at()), serde_json::Value::Null);
    let ending = if session.text(ready).await.is_err() {
        Ending::gone()
    } else {
        loop {
            tokio::select! {
                item = feed.next() => match item {
                    FeedItem::Event(event) => {
                        let sent = tokio::time::timeout(limits.send_timeout, session.text(event_message(event))).await;
                        match sent {
                            Ok(Ok(())) => metrics::counter!("strata_ws_messages_sent_total").increment(1),
                            Ok(Err(_)) => break Ending::gone(),
                            Err(_) => {
                                metrics::counter!("strata_ws_messages_dropped_total", "reason" => "slow").increment(1);
                                break Ending::close(4008, "too slow: a message waited too long", "slow");
                            }
                        }
                    }
                    FeedItem::Close(reason) => break Ending::of(reason),
                },
                received = stream.recv() => {
                    heard = tokio::time::Instant::now();
                    let Some(received) = received else { break Ending::gone() };
                    if let Some(ending) = answer(received, &mut session, feed.as_mut(), &mut budget).await {
                        break ending;
                    }
                }
                () = tokio::time::sleep_until(heard + limits.idle_timeout) => {
                    break Ending::close(4000, "idle: no answer to pings", "idle");
                }
                _ = ping.tick() => {
                    if session.ping(b"").await.is_err() {
                        break Ending::gone();
                    }
                }
            }
        }
    };
    metrics::counter!("strata_ws_closed_total", "reason" => ending.reason).increment(1);
    let frame = ending.frame.map(|(code, why)| WsClose {
        code: CloseCode::from(code),
        description: Some(why.to_owned()),
    });
    // A peer that does not read would hold the close forever.
    let _ = tokio::time::timeout(Duration::from_secs(1), session.close(frame)).await;
}

/// Handles one frame from the client; `Some` when the socket must end.
async fn answer(
    received: Result<Message, ProtocolError>,
    session: &mut Session,
    feed: &mut dyn Feed,
    budget: &mut Budget,
) -> Option<Ending> {
    let frame = match received {
        Ok(frame) => frame,
        Err(ProtocolError::Overflow) => {
            return Some(Ending::close(1009, "frame too large", "too_large"));
        }
        // The connection broke under the frame: nobody is left to tell.
        Err(ProtocolError::Io(_)) => return Some(Ending::gone()),
        Err(_) => return Some(Ending::close(1002, "protocol error", "protocol")),
    };
    if matches!(frame, Message::Close(_)) {
        return Some(Ending::gone());
    }
    if !budget.take() {
        return Some(Ending::close(1008, "too many messages", "rate"));
    }
    match frame {
        Message::Text(text) => match serde_json::from_str::<ClientMessage>(&text) {
            Ok(ClientMessage::Resume { after }) => feed.resume(after),
            Err(err) => {
                let error = message(
                    "error",
                    None,
                    json!({"code": "INVALID_MESSAGE", "detail": format!("Expected {{\"type\": \"resume\", \"after\": <seq>}}: {err}")}),
                );
                if session.text(error).await.is_err() {
                    return Some(Ending::gone());
                }
            }
        },
        Message::Ping(bytes) => {
            if session.pong(&bytes).await.is_err() {
                return Some(Ending::gone());
            }
        }
        Message::Binary(_) | Message::Continuation(_) => {
            return Some(Ending::close(
                1003,
                "only single text frames are accepted",
                "unsupported",
            ));
        }
        Message::Pong(_) | Message::Nop | Message::Close(_) => {}
    }
    None
}
