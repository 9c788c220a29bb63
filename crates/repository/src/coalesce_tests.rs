use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use super::Coalesced;

/// A stored value, and the number of reads it served. A read sees the value
/// as it is when the read begins and answers 5 ms later, like a round trip
/// to the database.
#[derive(Default)]
struct Store {
    value: AtomicI64,
    reads: AtomicUsize,
    /// Reads with this number (1-based) fail.
    failing: AtomicUsize,
}

impl Store {
    async fn read(&self) -> Result<i64, &'static str> {
        let number = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let value = self.value.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        if self.failing.load(Ordering::SeqCst) == number {
            return Err("down");
        }
        Ok(value)
    }
}

fn spawn_get(
    reads: &Arc<Coalesced>,
    store: &Arc<Store>,
) -> tokio::task::JoinHandle<Result<i64, &'static str>> {
    let (reads, store) = (Arc::clone(reads), Arc::clone(store));
    tokio::spawn(async move { reads.get(|| store.read()).await })
}

/// Lets the spawned tasks run up to their first wait.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn requests_after_a_change_never_get_a_read_that_began_before_it() {
    let (reads, store) = (Arc::new(Coalesced::default()), Arc::new(Store::default()));
    store.value.store(1, Ordering::SeqCst);
    let first = spawn_get(&reads, &store);
    settle().await;
    // Committed while the first read is in flight: everyone who arrives now
    // must see it, although a read is already on its way.
    store.value.store(2, Ordering::SeqCst);
    let later: Vec<_> = (0..20).map(|_| spawn_get(&reads, &store)).collect();
    assert_eq!(first.await.unwrap(), Ok(1));
    for request in later {
        assert_eq!(request.await.unwrap(), Ok(2));
    }
    // One read for the first request, one shared by the twenty.
    assert_eq!(store.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn requests_in_sequence_each_read() {
    let (reads, store) = (Coalesced::default(), Store::default());
    for value in 1..=3 {
        store.value.store(value, Ordering::SeqCst);
        assert_eq!(reads.get(|| store.read()).await, Ok(value));
    }
    assert_eq!(store.reads.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_reader_whose_client_left_does_not_strand_the_others() {
    let (reads, store) = (Arc::new(Coalesced::default()), Arc::new(Store::default()));
    let leader = spawn_get(&reads, &store);
    settle().await;
    let waiting = spawn_get(&reads, &store);
    settle().await;
    leader.abort();
    store.value.store(4, Ordering::SeqCst);
    assert_eq!(waiting.await.unwrap(), Ok(4));
}

#[tokio::test(start_paused = true)]
async fn one_read_at_a_time() {
    let (reads, store) = (Arc::new(Coalesced::default()), Arc::new(Store::default()));
    let mut requests = Vec::new();
    for _ in 0..10 {
        requests.push(spawn_get(&reads, &store));
        settle().await;
    }
    // The first request reads; the nine after it wait for that read to end
    // and share the next.
    assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    futures_answers(requests).await;
    assert_eq!(store.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn those_a_failed_read_served_read_alone() {
    let (reads, store) = (Arc::new(Coalesced::default()), Arc::new(Store::default()));
    store.value.store(9, Ordering::SeqCst);
    // The second read, shared by the five who arrive during the first, fails.
    store.failing.store(2, Ordering::SeqCst);
    let first = spawn_get(&reads, &store);
    settle().await;
    let later: Vec<_> = (0..5).map(|_| spawn_get(&reads, &store)).collect();
    assert_eq!(first.await.unwrap(), Ok(9));
    let answers: Vec<_> = futures_answers(later).await;
    // The one who led the failing read hears its error; the others read
    // alone and succeed.
    assert_eq!(answers.iter().filter(|a| a.is_err()).count(), 1);
    assert_eq!(answers.iter().filter(|a| **a == Ok(9)).count(), 4);
    assert_eq!(store.reads.load(Ordering::SeqCst), 2 + 4);
}

async fn futures_answers(
    handles: Vec<tokio::task::JoinHandle<Result<i64, &'static str>>>,
) -> Vec<Result<i64, &'static str>> {
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    answers
}
