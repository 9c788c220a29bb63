//! Concurrent reads of one value shared without ever answering with a value
//! read before the request arrived.
//!
//! A request needs a read that *began after it arrived*, never one already
//! in flight when it came: it waits for that one to end, and the first
//! request that needs a newer read starts it, for everyone who arrived
//! until then. Each answer is as fresh as a read of its own, and under load
//! the reads per second stay near one per round trip whatever the request
//! rate (ADR 0021).

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// Coalesced reads of an `i64` (the catalog version on PostgreSQL). One read
/// is in flight at a time: two shortened the wait, but on PostgreSQL the
/// reads' CPU (TLS, the pool) outweighed it (15,885 and 18,534 cached pages/s
/// with two against 17,223 and 18,723 with one, for 21,682 reads against
/// 12,203; bench/README.md).
#[derive(Debug)]
pub(crate) struct Coalesced {
    state: Mutex<Reads>,
    /// The generation of the last read that ended, in success or not.
    ended: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Reads {
    /// Reads started so far; the read in flight, if any, is number `started`.
    started: u64,
    reading: bool,
    /// The newest successful read: (generation, value).
    last: Option<(u64, i64)>,
    /// The newest generation whose read failed.
    failed: u64,
}

impl Default for Coalesced {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            ended: watch::Sender::new(0),
        }
    }
}

/// What a request does next.
enum Step {
    Answer(i64),
    /// Read, as generation `.0`.
    Lead(u64),
    /// Wait for the read in flight to end.
    Wait,
    /// A read this request could use failed: read alone, so that a failing
    /// database costs each request one timeout, not one per request ahead.
    Alone,
}

impl Coalesced {
    fn lock(&self) -> MutexGuard<'_, Reads> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A value read by a call of `read` that began after this call did.
    ///
    /// # Errors
    /// The error of the read that served this call.
    pub(crate) async fn get<F, Fut, E>(&self, read: F) -> Result<i64, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<i64, E>>,
    {
        let mut ended = self.ended.subscribe();
        let need = self.lock().started + 1;
        loop {
            // Seen before the state is read: an end after this line wakes
            // the wait below, even one that comes before it starts.
            ended.borrow_and_update();
            let step = {
                let mut reads = self.lock();
                match reads.last {
                    Some((generation, value)) if generation >= need => Step::Answer(value),
                    _ if reads.failed >= need => Step::Alone,
                    _ if reads.reading => Step::Wait,
                    _ => {
                        reads.reading = true;
                        reads.started += 1;
                        Step::Lead(reads.started)
                    }
                }
            };
            match step {
                Step::Answer(value) => return Ok(value),
                Step::Alone => return read().await,
                Step::Lead(generation) => {
                    // Ends the read even if this request is dropped mid-read
                    // (its client left): the others must not wait forever.
                    let mut lead = Lead {
                        owner: self,
                        generation,
                        value: None,
                    };
                    let result = read().await;
                    lead.value = result.as_ref().ok().copied();
                    return result;
                }
                Step::Wait => {
                    if ended.changed().await.is_err() {
                        return read().await;
                    }
                }
            }
        }
    }
}

/// The read in flight; dropping it publishes its outcome.
struct Lead<'a> {
    owner: &'a Coalesced,
    generation: u64,
    value: Option<i64>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        {
            let mut reads = self.owner.lock();
            reads.reading = false;
            match self.value {
                Some(value) => reads.last = Some((self.generation, value)),
                None => reads.failed = self.generation,
            }
        }
        self.owner.ended.send_replace(self.generation);
    }
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
