//! The WebSocket's use cases (docs/realtime.md): tickets that open a socket
//! without an access token in a URL, and each socket's feed of its user's
//! events, live from the bus and caught up from the tables.
//!
//! One [`Dispatcher`] per instance reads the bus and hands each user event
//! to that user's sockets here, through a bounded queue per socket: a socket
//! whose queue is full is cut off (its feed ends with
//! [`CloseReason::Overflow`]) rather than memory growing or the other
//! sockets waiting. What a socket's feed does with the events (order, gaps,
//! replay) is in [`feed`](crate::realtime_feed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use strata_domain::auth::Principal;
use strata_domain::events::{Delivery, EventPayload, Subscription};
use strata_domain::realtime::{NewTicket, RealtimeRepository, UserEvent};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::ServiceError;
use crate::realtime_feed::SocketFeed;
use crate::revocation::RevocationList;
use crate::tokens::hash_refresh_token;

/// What a socket's feed yields.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// The next event, numbered above everything sent before on this socket.
    Event(UserEvent),
    /// The socket must close, for this reason.
    Close(CloseReason),
}

/// Why a feed ended; the HTTP adapter turns each into a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The session was revoked (logout, password change, deactivation).
    Revoked,
    /// The access token the ticket was asked with has expired.
    Expired,
    /// The socket fell further behind than its queue holds.
    Overflow,
    /// The tables could not be read to catch up.
    Unavailable,
}

/// One socket's events, in order, each once.
#[async_trait]
pub trait Feed: Send {
    /// The user's last event number when the socket opened.
    fn opened_at(&self) -> u64;

    /// The next item. Cancel-safe: dropping the future loses nothing.
    async fn next(&mut self) -> FeedItem;

    /// The client has everything up to `after`: send what follows, from the
    /// tables, then live events.
    fn resume(&mut self, after: u64);
}

/// A ticket as the client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RealtimeService: Send + Sync {
    /// A single-use ticket for `caller`, whose access token expires at
    /// `access_expires_at`.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when the account is gone; storage failures.
    async fn issue_ticket(
        &self,
        caller: &Principal,
        access_expires_at: DateTime<Utc>,
    ) -> Result<IssuedTicket, ServiceError>;

    /// Uses `ticket` and returns the feed of its user's events: from after
    /// `after` when given (replayed from the tables first), else from now.
    ///
    /// # Errors
    /// [`ServiceError::InvalidTicket`] for a ticket unknown, used, expired,
    /// of a revoked session or of an expired token;
    /// [`ServiceError::TooManySockets`] past the per-user limit; storage
    /// failures.
    async fn open(&self, ticket: &str, after: Option<u64>) -> Result<Box<dyn Feed>, ServiceError>;
}

/// The limits of [`RealtimeServiceImpl`].
#[derive(Debug, Clone, Copy)]
pub struct RealtimeConfig {
    pub ticket_ttl: Duration,
    pub max_sockets_per_user: usize,
    /// Events queued per socket before it is cut off.
    pub socket_buffer: usize,
    /// How often an idle socket compares its position with the tables, in
    /// case an event was lost on the bus.
    pub resync_every: Duration,
    /// How often a socket checks its session and expiry.
    pub check_every: Duration,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            ticket_ttl: Duration::from_secs(30),
            max_sockets_per_user: 16,
            socket_buffer: 256,
            resync_every: Duration::from_secs(60),
            check_every: Duration::from_millis(250),
        }
    }
}

/// What the dispatcher hands a socket.
#[derive(Debug)]
pub(crate) enum Signal {
    Event(UserEvent),
    /// The bus may have dropped events: compare with the tables.
    Resync,
}

/// Each user's sockets on this instance: an id and the queue to each.
type Sockets = HashMap<Uuid, Vec<(u64, mpsc::Sender<Signal>)>>;

/// The sockets of this instance, by user.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sockets: Mutex<Sockets>,
    next_id: AtomicU64,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sockets> {
        // A panic elsewhere mid-update leaves a valid map behind.
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new socket of `user_id`, or `None` when it has `max` already.
    fn join(
        self: &Arc<Self>,
        user_id: Uuid,
        max: usize,
        buffer: usize,
    ) -> Option<(Membership, mpsc::Receiver<Signal>)> {
        let (sender, receiver) = mpsc::channel(buffer.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.lock();
        let mine = sockets.entry(user_id).or_default();
        if mine.len() >= max {
            return None;
        }
        mine.push((id, sender));
        metrics::gauge!("strata_ws_sockets_open").increment(1.0);
        Some((
            Membership {
                registry: self.clone(),
                user_id,
                id,
            },
            receiver,
        ))
    }

    /// Hands `event` to its user's sockets; a full one is cut off.
    fn deliver(&self, event: &UserEvent) {
        let mut sockets = self.lock();
        let Some(mine) = sockets.get_mut(&event.user_id) else {
            return;
        };
        mine.retain(
            |(_, sender)| match sender.try_send(Signal::Event(event.clone())) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("strata_ws_messages_dropped_total", "reason" => "overflow")
                        .increment(1);
                    false
                }
                // Its socket is closing; its membership removes the rest.
                Err(mpsc::error::TrySendError::Closed(_)) => true,
            },
        );
    }

    /// Tells every socket to compare with the tables.
    fn resync_all(&self) {
        let mut sockets = self.lock();
        for mine in sockets.values_mut() {
            mine.retain(|(_, sender)| {
                !matches!(
                    sender.try_send(Signal::Resync),
                    Err(mpsc::error::TrySendError::Full(_))
                )
            });
        }
    }

    #[cfg(test)]
    pub(crate) fn count(&self, user_id: Uuid) -> usize {
        self.lock().get(&user_id).map_or(0, Vec::len)
    }
}

/// A socket's place in the [`Registry`], given up when dropped.
#[derive(Debug)]
pub(crate) struct Membership {
    registry: Arc<Registry>,
    user_id: Uuid,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        metrics::gauge!("strata_ws_sockets_open").decrement(1.0);
        let mut sockets = self.registry.lock();
        if let Some(mine) = sockets.get_mut(&self.user_id) {
            mine.retain(|(id, _)| *id != self.id);
            if mine.is_empty() {
                sockets.remove(&self.user_id);
            }
        }
    }
}

/// Reads the bus and hands user events to this instance's sockets.
pub struct Dispatcher {
    subscription: Box<dyn Subscription>,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Dispatches until the bus is gone.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(delivery) = self.subscription.next().await {
                match delivery {
                    Delivery::Event(envelope) => {
                        if let EventPayload::User(event) = &envelope.event.payload {
                            self.registry.deliver(event);
                        }
                    }
                    Delivery::Resubscribed | Delivery::Lagged(_) => self.registry.resync_all(),
                }
            }
        })
    }
}

/// [`RealtimeService`] over the [`RealtimeRepository`].
pub struct RealtimeServiceImpl {
    repo: Arc<dyn RealtimeRepository>,
    revocations: RevocationList,
    registry: Arc<Registry>,
    config: RealtimeConfig,
}

impl std::fmt::Debug for RealtimeServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeServiceImpl")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RealtimeServiceImpl {
    /// The service, and the dispatcher that feeds its sockets from
    /// `subscription` (a subscription to every topic of the bus), to spawn.
    pub fn new(
        repo: Arc<dyn RealtimeRepository>,
        revocations: RevocationList,
        subscription: Box<dyn Subscription>,
        config: RealtimeConfig,
    ) -> (Self, Dispatcher) {
        let registry = Arc::new(Registry::default());
        let dispatcher = Dispatcher {
            subscription,
            registry: registry.clone(),
        };
        let service = Self {
            repo,
            revocations,
            registry,
            config,
        };
        (service, dispatcher)
    }
}

#[async_trait]
impl RealtimeService for RealtimeServiceImpl {
    async fn issue_ticket(
        &self,
        caller: &Principal,
        access_expires_at: DateTime<Utc>,
    ) -> Result<IssuedTicket, ServiceError> {
        let now = Utc::now();
        let bytes: [u8; 32] = rand::random();
        let ticket = URL_SAFE_NO_PAD.encode(bytes);
        let ttl = chrono::Duration::from_std(self.config.ticket_ttl)
            .unwrap_or(chrono::Duration::seconds(30));
        // A ticket never outlives the token it was asked with.
        let expires_at = (now + ttl).min(access_expires_at);
        self.repo
            .store_ticket(
                NewTicket {
                    token_hash: hash_refresh_token(&ticket),
                    user_id: caller.user_id,
                    session_id: caller.session_id,
                    access_expires_at,
                    expires_at,
                },
                now,
            )
            .await?;
        Ok(IssuedTicket { ticket, expires_at })
    }

    async fn open(&self, ticket: &str, after: Option<u64>) -> Result<Box<dyn Feed>, ServiceError> {
        let taken = self.repo.take_ticket(&hash_refresh_token(ticket)).await?;
        let now = Utc::now();
        let ticket = taken
            .filter(|t| t.expires_at > now && t.access_expires_at > now)
            .filter(|t| !self.revocations.is_revoked(t.session_id, now))
            .ok_or(ServiceError::InvalidTicket)?;
        // Joined before the position is read: an event committed in between
        // arrives on the queue and is recognised as already covered.
        let (membership, signals) = self
            .registry
            .join(
                ticket.user_id,
                self.config.max_sockets_per_user,
                self.config.socket_buffer,
            )
            .ok_or(ServiceError::TooManySockets)?;
        let latest = self.repo.latest_seq(ticket.user_id).await?;
        Ok(Box::new(SocketFeed::new(
            ticket,
            latest,
            after,
            signals,
            membership,
            self.repo.clone(),
            self.revocations.clone(),
            &self.config,
        )))
    }
}

#[cfg(test)]
#[path = "realtime_tests.rs"]
mod tests;
