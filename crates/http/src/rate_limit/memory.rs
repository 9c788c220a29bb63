//! Budgets in this process, with governor's keyed GCRA limiters.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use super::{Bucket, Decision, Quota, RateLimitStore};

type Limiter = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// Forget idle keys every this many checks, so a scan of many addresses
/// cannot grow the map without bound.
const SWEEP_EVERY: u64 = 10_000;

/// In-process budgets: exact for one instance, not shared between instances.
#[derive(Default)]
pub struct MemoryStore {
    limiters: RwLock<HashMap<(Bucket, Quota), Arc<Limiter>>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    fn limiter(&self, bucket: Bucket, quota: Quota) -> Option<Arc<Limiter>> {
        if let Some(l) = self
            .limiters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(bucket, quota))
        {
            return Some(l.clone());
        }
        let burst = NonZeroU32::new(quota.limit)?;
        let gquota = governor::Quota::with_period(quota.period / quota.limit)?.allow_burst(burst);
        let limiter = Arc::new(
            governor::RateLimiter::keyed(gquota).with_middleware::<StateInformationMiddleware>(),
        );
        let mut map = self.limiters.write().unwrap_or_else(|e| e.into_inner());
        Some(map.entry((bucket, quota)).or_insert(limiter).clone())
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn check(&self, bucket: Bucket, key: &str, quota: Quota) -> Result<Decision, String> {
        let limiter = self
            .limiter(bucket, quota)
            .ok_or("a quota needs a limit and a period")?;
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let interval = quota.period / quota.limit;
        Ok(match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit: quota.limit,
                    remaining,
                    reset_after: interval * (quota.limit - remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Decision {
                    allowed: false,
                    limit: quota.limit,
                    remaining: 0,
                    reset_after: wait + interval * (quota.limit - 1),
                    retry_after: wait,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn the_sixth_request_of_a_five_per_minute_budget_is_refused_with_a_retry_time() {
        let store = MemoryStore::default();
        let quota = Quota::per_minute(5);
        for expected_remaining in (0..5).rev() {
            let d = store
                .check(Bucket::Credentials, "ip:1.2.3.4", quota)
                .await
                .unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let refused = store
            .check(Bucket::Credentials, "ip:1.2.3.4", quota)
            .await
            .unwrap();
        assert!(!refused.allowed);
        assert!(
            refused.retry_after > Duration::from_secs(10)
                && refused.retry_after <= Duration::from_secs(12)
        );
        // Other keys and other buckets have their own budgets.
        assert!(
            store
                .check(Bucket::Credentials, "ip:5.6.7.8", quota)
                .await
                .unwrap()
                .allowed
        );
        assert!(
            store
                .check(Bucket::Default, "ip:1.2.3.4", quota)
                .await
                .unwrap()
                .allowed
        );
    }
}
