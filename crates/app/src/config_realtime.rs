//! The configuration of the WebSocket (`[realtime]`, docs/realtime.md).

use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;
use strata_http::SocketLimits;
use strata_service::RealtimeConfig;

#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    /// How long a ticket from `POST /ws/tickets` may wait to be used.
    pub ticket_ttl_secs: u64,
    /// Sockets one user may hold on one instance.
    pub max_sockets_per_user: usize,
    /// Events queued for one socket before it is closed as too slow.
    pub socket_buffer: usize,
    pub ping_interval_secs: u64,
    /// A client heard from less recently than this is dropped.
    pub idle_timeout_secs: u64,
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Messages a client may send per second (a burst of as many).
    pub client_messages_per_second: u32,
    /// How long one message may wait for a client that does not read.
    pub send_timeout_secs: u64,
    /// How often an idle socket compares its position with the database,
    /// in case the bus lost its last event.
    pub resync_interval_secs: u64,
}

impl RealtimeSettings {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        let zero = [
            ("ticket_ttl_secs", self.ticket_ttl_secs == 0),
            ("max_sockets_per_user", self.max_sockets_per_user == 0),
            ("socket_buffer", self.socket_buffer == 0),
            ("ping_interval_secs", self.ping_interval_secs == 0),
            ("max_frame_bytes", self.max_frame_bytes == 0),
            (
                "client_messages_per_second",
                self.client_messages_per_second == 0,
            ),
            ("send_timeout_secs", self.send_timeout_secs == 0),
            ("resync_interval_secs", self.resync_interval_secs == 0),
        ];
        if let Some((key, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            bail!("realtime.{key} must be at least 1");
        }
        if self.idle_timeout_secs <= self.ping_interval_secs {
            bail!(
                "realtime.idle_timeout_secs must exceed realtime.ping_interval_secs, or every socket is dropped before its first pong"
            );
        }
        Ok(())
    }

    pub(crate) fn service(&self) -> RealtimeConfig {
        RealtimeConfig {
            ticket_ttl: Duration::from_secs(self.ticket_ttl_secs),
            max_sockets_per_user: self.max_sockets_per_user,
            socket_buffer: self.socket_buffer,
            resync_every: Duration::from_secs(self.resync_interval_secs),
            ..RealtimeConfig::default()
        }
    }

    pub(crate) fn limits(&self) -> SocketLimits {
        SocketLimits {
            ping_interval: Duration::from_secs(self.ping_interval_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_frame_bytes: self.max_frame_bytes,
            messages_per_second: self.client_messages_per_second,
            send_timeout: Duration::from_secs(self.send_timeout_secs),
        }
    }
}
