//! One socket's feed: live events in number order, each once, with the gaps
//! filled from the tables.
//!
//! The feed remembers the last number it yielded. A live event right after
//! it is yielded; one at or below it is a duplicate and dropped; one further
//! on means events were lost on the bus (or published out of order), so the
//! feed reads what follows its position from the tables, where every event
//! committed before it was published. It also reads them when asked to
//! resume, when the bus reconnected or lagged, and every `resync_every` if
//! the tables are ahead, in case the very last event was lost.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::realtime::{MAX_REPLAY, RealtimeRepository, Ticket, UserEvent};
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use crate::realtime::{CloseReason, Feed, FeedItem, Membership, RealtimeConfig, Signal};
use crate::revocation::RevocationList;

/// Live events kept past a gap; beyond this the tables alone fill it.
const MAX_HELD: usize = 64;

pub(crate) struct SocketFeed {
    ticket: Ticket,
    opened_at: u64,
    /// The last number yielded (or that the client said it has).
    position: u64,
    /// Events read from the tables, not yet yielded.
    pending: VecDeque<UserEvent>,
    /// The tables must be read from `position` before anything live.
    catch_up: bool,
    /// Live events that arrived past a gap, kept until the tables are read:
    /// whatever the tables lack beyond them is still sent (a row deleted
    /// since, say), so a gap the tables cannot fill never stalls the feed.
    held: Vec<UserEvent>,
    signals: mpsc::Receiver<Signal>,
    _membership: Membership,
    repo: Arc<dyn RealtimeRepository>,
    revocations: RevocationList,
    check: Interval,
    resync: Interval,
}

impl SocketFeed {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ticket: Ticket,
        latest: u64,
        after: Option<u64>,
        signals: mpsc::Receiver<Signal>,
        membership: Membership,
        repo: Arc<dyn RealtimeRepository>,
        revocations: RevocationList,
        config: &RealtimeConfig,
    ) -> Self {
        let interval = |every| {
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        };
        Self {
            ticket,
            opened_at: latest,
            position: after.unwrap_or(latest),
            pending: VecDeque::new(),
            catch_up: after.is_some_and(|after| after < latest),
            held: Vec::new(),
            signals,
            _membership: membership,
            repo,
            revocations,
            check: interval(config.check_every),
            resync: interval(config.resync_every),
        }
    }

    /// Why the socket must close now, if it must.
    fn ended(&self) -> Option<CloseReason> {
        let now = Utc::now();
        if self.revocations.is_revoked(self.ticket.session_id, now) {
            Some(CloseReason::Revoked)
        } else if self.ticket.access_expires_at <= now {
            Some(CloseReason::Expired)
        } else {
            None
        }
    }

    /// Reads what follows `position` from the tables into `pending`. Only
    /// changes state once the read is done, so a dropped call loses nothing.
    async fn read_tables(&mut self) -> Result<(), CloseReason> {
        let events = self
            .repo
            .events_after(self.ticket.user_id, self.position)
            .await
            .map_err(|err| {
                tracing::warn!(user_id = %self.ticket.user_id, error = %err, "socket could not catch up");
                CloseReason::Unavailable
            })?;
        metrics::counter!("strata_ws_catch_ups_total").increment(1);
        // A full batch may have more behind it; the held events wait for
        // the last one.
        self.catch_up = events.len() as u64 >= MAX_REPLAY;
        let mut events = events;
        if !self.catch_up {
            let read_up_to = events.last().map_or(self.position, |event| event.seq);
            let mut held = std::mem::take(&mut self.held);
            held.sort_by_key(|event| event.seq);
            held.dedup_by_key(|event| event.seq);
            events.extend(held.into_iter().filter(|event| event.seq > read_up_to));
        }
        self.pending = events.into();
        Ok(())
    }

    /// Takes `event` if it is the next one; `None` when it is already
    /// covered or it shows a gap (then the tables are read).
    fn take_live(&mut self, event: UserEvent) -> Option<UserEvent> {
        if event.seq <= self.position {
            return None;
        }
        if event.seq == self.position + 1 {
            self.position = event.seq;
            return Some(event);
        }
        metrics::counter!("strata_ws_gaps_total").increment(1);
        if self.held.len() < MAX_HELD {
            self.held.push(event);
        }
        self.catch_up = true;
        None
    }
}

#[async_trait]
impl Feed for SocketFeed {
    fn opened_at(&self) -> u64 {
        self.opened_at
    }

    async fn next(&mut self) -> FeedItem {
        loop {
            if let Some(reason) = self.ended() {
                return FeedItem::Close(reason);
            }
            while let Some(event) = self.pending.pop_front() {
                if event.seq > self.position {
                    self.position = event.seq;
                    return FeedItem::Event(event);
                }
            }
            if self.catch_up {
                if let Err(reason) = self.read_tables().await {
                    return FeedItem::Close(reason);
                }
                continue;
            }
            tokio::select! {
                signal = self.signals.recv() => match signal {
                    Some(Signal::Event(event)) => {
                        if let Some(event) = self.take_live(event) {
                            return FeedItem::Event(event);
                        }
                    }
                    Some(Signal::Resync) => self.catch_up = true,
                    // The dispatcher cut this socket off: its queue was full.
                    None => return FeedItem::Close(CloseReason::Overflow),
                },
                _ = self.check.tick() => {}
                _ = self.resync.tick() => {
                    match self.repo.latest_seq(self.ticket.user_id).await {
                        Ok(latest) if latest > self.position => self.catch_up = true,
                        Ok(_) => {}
                        Err(err) => tracing::warn!(error = %err, "socket could not check its position"),
                    }
                }
            }
        }
    }

    fn resume(&mut self, after: u64) {
        self.position = after;
        self.pending.clear();
        self.held.clear();
        self.catch_up = true;
    }
}
