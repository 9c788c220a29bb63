//! Budgets in Redis, shared by every instance: the GCRA as one Lua script,
//! so the read-modify-write is atomic and the clock is Redis's own.

use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{Client, Script};
use async_trait::async_trait;

use super::{Bucket, Decision, Quota, RateLimitStore};

/// KEYS[1]: the budget; ARGV[1]: limit; ARGV[2]: period in ms. Stores the
/// theoretical arrival time (ms) with an expiry, returns
/// {allowed, remaining, retry_after_ms, reset_ms}.
const GCRA: &str = r"
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now))
return {1, math.floor((period - (new_tat - now)) / interval), 0, math.ceil(new_tat - now)}
";

pub struct RedisStore {
    connection: ConnectionManager,
    script: Script,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects (and reconnects on failure) to `url`; keys are namespaced by
    /// `prefix` so several deployments can share a server.
    ///
    /// # Errors
    /// An invalid URL or an unreachable server at start-up.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ::redis::RedisError> {
        let connection = ConnectionManager::new(Client::open(url)?).await?;
        Ok(Self {
            connection,
            script: Script::new(GCRA),
            prefix: prefix.to_owned(),
        })
    }

    /// The connection (multiplexed, reconnecting), for the other users of
    /// the same Redis: one per process is enough.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn check(&self, bucket: Bucket, key: &str, quota: Quota) -> Result<Decision, String> {
        let period_ms = u64::try_from(quota.period.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection.clone();
        let (allowed, remaining, retry_ms, reset_ms): (i64, i64, i64, i64) = self
            .script
            .key(format!("{}:{}:{key}", self.prefix, bucket.name()))
            .arg(quota.limit)
            .arg(period_ms)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        let millis = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        Ok(Decision {
            allowed: allowed == 1,
            limit: quota.limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: millis(reset_ms),
            retry_after: millis(retry_ms),
        })
    }
}
