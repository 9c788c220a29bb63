//! List totals remembered between writes.
//!
//! Every list answer carries `total`, and on SQLite a `COUNT(*)` walks every
//! matching index entry: for an owner with 10,000 items it cost five times the
//! page itself, and `list_items` ran at 2,200 req/s (bench/README.md). A total
//! cannot change while nothing writes to the file, and every write of this
//! process passes through its [`WriteGate`], which counts them. So a total is
//! reused while that count is unchanged. Two things can still change the file
//! unseen: another process, and a write whose request was abandoned after
//! SQLite received it (its place in the queue is released, and counted, when
//! the future is dropped). Entries therefore also expire after [`FRESH_FOR`],
//! which bounds how stale a total can ever be.
//!
//! PostgreSQL has no gate, hence no cache: there, other instances write to
//! the same database at any time, and a reused total could contradict the
//! page it is served with. A `COUNT(*)` there cost 1.2 ms for 10,000 rows,
//! against 0.1 ms for the page, so an owner's whole item list reads the count
//! that triggers keep in `item_counts` instead (`items.rs`); searches still
//! count. On both backends a page shorter than its limit needs no count at
//! all (`query::total`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, EntityTrait, FromQueryResult, PaginatorTrait, Select};
use strata_domain::RepoError;

use crate::error::DbResultExt;
use crate::tx::WriteGate;

/// The longest a total is reused, whatever the write count says.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// Distinct filters (searches, owners) remembered between two writes; past
/// that the cache starts over, so clients cannot grow it without bound.
const MAX_ENTRIES: usize = 1024;

#[derive(Debug)]
pub(crate) struct CountCache<K> {
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    /// The gate's write count the entries were read under.
    writes: u64,
    entries: HashMap<K, (Instant, u64)>,
}

impl<K: Hash + Eq> Default for CountCache<K> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                writes: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<K: Hash + Eq + Clone> CountCache<K> {
    /// How many rows `select` (the list filtered by `key`) matches.
    ///
    /// # Errors
    /// The count query's failure, labelled with `context`.
    pub(crate) async fn count<E, M>(
        &self,
        gate: &WriteGate,
        key: &K,
        select: &Select<E>,
        db: &DatabaseConnection,
        context: &'static str,
    ) -> Result<u64, RepoError>
    where
        E: EntityTrait<Model = M>,
        M: FromQueryResult + Send + Sync,
    {
        self.count_with(gate, key, async {
            select.clone().count(db).await.or_repo(context)
        })
        .await
    }

    /// The total of `key`, reused while fresh, else what `count` answers.
    ///
    /// # Errors
    /// `count`'s failure.
    pub(crate) async fn count_with(
        &self,
        gate: &WriteGate,
        key: &K,
        count: impl Future<Output = Result<u64, RepoError>>,
    ) -> Result<u64, RepoError> {
        // Read before counting: a write finishing meanwhile changes it, and
        // the total is then stored under a count that is already stale.
        let Some(writes) = gate.writes_finished() else {
            return count.await;
        };
        if let Some(total) = self.get(key, writes, Instant::now()) {
            return Ok(total);
        }
        // No lock is held while the query runs.
        let total = count.await?;
        self.put(key.clone(), writes, total, Instant::now());
        Ok(total)
    }

    fn get(&self, key: &K, writes: u64, now: Instant) -> Option<u64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.writes != writes {
            return None;
        }
        state
            .entries
            .get(key)
            .filter(|(at, _)| now.duration_since(*at) < FRESH_FOR)
            .map(|(_, total)| *total)
    }

    fn put(&self, key: K, writes: u64, total: u64, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if writes < state.writes {
            // Counted before a write that a newer entry already reflects.
            return;
        }
        if writes > state.writes || state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
            state.writes = writes;
        }
        state.entries.insert(key, (now, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_is_reused_only_under_the_same_write_count_and_while_fresh() {
        let cache = CountCache::default();
        let t0 = Instant::now();
        cache.put("a", 3, 10, t0);
        assert_eq!(cache.get(&"a", 3, t0), Some(10));
        assert_eq!(cache.get(&"b", 3, t0), None);
        // A write finished since: the total may have changed.
        assert_eq!(cache.get(&"a", 4, t0), None);
        // Too old, even with no write seen.
        assert_eq!(cache.get(&"a", 3, t0 + FRESH_FOR), None);
    }

    #[test]
    fn a_newer_write_count_forgets_older_totals_and_an_older_one_is_not_stored() {
        let cache = CountCache::default();
        let t0 = Instant::now();
        cache.put("a", 3, 10, t0);
        cache.put("b", 4, 20, t0);
        assert_eq!(cache.get(&"a", 4, t0), None);
        assert_eq!(cache.get(&"b", 4, t0), Some(20));
        // A count that started before write 4 finished arrives late.
        cache.put("a", 3, 10, t0);
        assert_eq!(cache.get(&"a", 4, t0), None);
        assert_eq!(cache.get(&"a", 3, t0), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = CountCache::default();
        let t0 = Instant::now();
        for i in 0..=MAX_ENTRIES {
            cache.put(i, 1, 1, t0);
        }
        let state = cache.state.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(state.entries.len() <= MAX_ENTRIES);
    }
}
