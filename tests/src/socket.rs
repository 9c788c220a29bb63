//! A real WebSocket client (tokio-tungstenite) for `/api/v1/ws`: asks a
//! ticket over HTTP, opens the socket, and reads its JSON messages.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::Client;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What the server sent next.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Json(Value),
    /// A close frame with its code, or the connection ending without one.
    Closed(Option<u16>),
}

pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// A ticket for `access_token` from the server at `address`.
pub async fn ticket(client: &Client, address: &str, access_token: &str) -> String {
    let response = client
        .post(format!("{address}/api/v1/ws/tickets"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["ticket"].as_str().unwrap().to_owned()
}

/// A refused handshake: status and problem document.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

/// Opens `/api/v1/ws` on `address` (an `http://` base URL) with `ticket`,
/// resuming after `after`, sending `origin` if given.
pub async fn open(
    address: &str,
    ticket: &str,
    after: Option<u64>,
    origin: Option<&str>,
) -> Result<Socket, Refused> {
    let mut url = format!(
        "{}/api/v1/ws?ticket={ticket}",
        address.replacen("http://", "ws://", 1)
    );
    if let Some(after) = after {
        url.push_str(&format!("&after={after}"));
    }
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            assert_eq!(response.status(), 101);
            Ok(Socket { ws })
        }
        Err(tungstenite::Error::Http(response)) => {
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err(Refused {
                status: response.status().as_u16(),
                content_type,
                body,
            })
        }
        Err(err) => panic!("handshake failed: {err}"),
    }
}

impl Socket {
    /// The next JSON message or close, skipping pings; panics after `within`.
    pub async fn next(&mut self, within: Duration) -> Frame {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("nothing from the socket within {within:?}"));
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Frame::Json(serde_json::from_str(&text).unwrap());
                }
                Some(Ok(Message::Close(frame))) => {
                    return Frame::Closed(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Frame::Closed(None),
            }
        }
    }

    /// The next JSON message; panics on a close.
    pub async fn json(&mut self, within: Duration) -> Value {
        match self.next(within).await {
            Frame::Json(value) => value,
            Frame::Closed(code) => panic!("socket closed ({code:?}) instead of a message"),
        }
    }

    pub async fn send(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    /// Closes from the client side, as a browser tab would.
    pub async fn close(mut self) {
        let _ = self
            .ws
            .close(Some(tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }

    /// Waits until nothing arrives for `quiet`, returning what did.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut got = Vec::new();
        while let Ok(Some(Ok(message))) = tokio::time::timeout(quiet, self.ws.next()).await {
            if let Message::Text(text) = message {
                got.push(serde_json::from_str(&text).unwrap());
            }
        }
        got
    }
}
