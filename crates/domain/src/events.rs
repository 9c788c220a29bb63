//! The event bus port: what one instance tells the others (and itself)
//! after a write has committed (see docs/adr/0014-event-bus.md).
//!
//! Delivery across instances is **at most once**: a message sent while a
//! subscriber was disconnected is gone. Every event therefore carries its
//! publisher and a sequence number per publisher and topic, and a subscriber
//! is told when it (re)connects or falls behind, so every consumer can
//! resynchronise from the database, the source of truth.

use async_trait::async_trait;
use uuid::Uuid;

use crate::auth::Revocation;
use crate::realtime::UserEvent;

/// The longest topic name, so that names stay cheap to compare and send.
pub const MAX_TOPIC_LEN: usize = 64;

/// A named stream of events. Sequence numbers count per publisher and topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    /// Revoked sessions, which every instance must refuse at once.
    pub fn sessions() -> Self {
        Self("sessions".into())
    }

    /// Changed or deleted accounts, whose cached copies are stale.
    pub fn users() -> Self {
        Self("users".into())
    }

    /// The events of one user (notifications, job progress), for per-user
    /// subscribers such as a socket.
    pub fn user(id: Uuid) -> Self {
        Self(format!("user:{}", id.simple()))
    }

    /// A topic read back from the wire: lowercase ASCII letters, digits and
    /// `:`, `_` or `-`, at most [`MAX_TOPIC_LEN`] bytes.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_TOPIC_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":_-".contains(&b));
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What happened. Applying the same payload twice must change nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    /// These sessions were revoked: refuse their tokens until `expires_at`.
    SessionsRevoked(Vec<Revocation>),
    /// This account changed or was deleted: forget any cached copy.
    UserChanged { user_id: Uuid },
    /// For the user's sockets, on [`Topic::user`].
    User(UserEvent),
}

/// An event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub topic: Topic,
    pub payload: EventPayload,
}

/// An event as delivered, stamped by the publishing bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The publishing bus (one per process), new at every start.
    pub publisher: Uuid,
    /// 1 for the publisher's first event on the topic, then +1 per event: a
    /// subscriber that sees `n + 2` after `n` missed one.
    pub seq: u64,
    pub event: Event,
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Event(Envelope),
    /// The bus (re)connected to its transport: events published before may
    /// not have been received. Resynchronise.
    Resubscribed,
    /// This subscriber fell behind and `n` deliveries were dropped for it.
    /// Resynchronise.
    Lagged(u64),
}

/// Which topics a subscription receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicFilter {
    All,
    Only(Topic),
}

impl TopicFilter {
    pub fn admits(&self, topic: &Topic) -> bool {
        match self {
            Self::All => true,
            Self::Only(only) => only == topic,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The transport is down or did not answer in time; the event is lost.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The encoded event exceeds what the transport carries.
    #[error("event too large for the bus: {bytes} bytes")]
    TooLarge { bytes: usize },
}

/// Publishes events to every instance and delivers them to subscribers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Sends `event` to every subscriber of its topic on every instance,
    /// this one included, and returns its sequence number. Call it only
    /// after the write it reports has committed. Events of one publisher on
    /// one topic are delivered in order.
    ///
    /// # Errors
    /// [`EventError::Unavailable`] when the transport fails or times out and
    /// [`EventError::TooLarge`] when the event cannot be carried; the event
    /// is then not delivered anywhere else, and the sequence number it would
    /// have had is skipped (subscribers see a gap and resynchronise).
    async fn publish(&self, event: Event) -> Result<u64, EventError>;

    /// A subscription to the topics `filter` admits, receiving what is
    /// published from now on (no replay). Its buffer is bounded: a
    /// subscriber that falls behind gets [`Delivery::Lagged`].
    fn subscribe(&self, filter: TopicFilter) -> Box<dyn Subscription>;

    /// Which transport this is, for logs and metric labels.
    fn name(&self) -> &'static str;

    /// Whether the transport listens now: `Some(false)` while it is lost
    /// (other instances' events do not arrive; consumers rely on their polls
    /// and resynchronise when it is back), `None` for a bus without a
    /// transport (one process).
    fn connected(&self) -> Option<bool>;
}

/// One subscriber's stream of deliveries.
#[async_trait]
pub trait Subscription: Send {
    /// The next delivery; `None` once the bus is gone.
    async fn next(&mut self) -> Option<Delivery>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_from_the_wire_are_checked() {
        assert_eq!(Topic::parse("sessions"), Some(Topic::sessions()));
        let user = Topic::user(Uuid::nil());
        assert_eq!(Topic::parse(user.as_str()), Some(user));
        assert_eq!(Topic::parse(""), None);
        assert_eq!(Topic::parse("Sessions"), None);
        assert_eq!(Topic::parse(&"a".repeat(MAX_TOPIC_LEN + 1)), None);
    }

    #[test]
    fn a_filter_admits_its_topic_only() {
        assert!(TopicFilter::All.admits(&Topic::users()));
        assert!(TopicFilter::Only(Topic::users()).admits(&Topic::users()));
        assert!(!TopicFilter::Only(Topic::users()).admits(&Topic::sessions()));
    }
}
