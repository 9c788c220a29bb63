//! Password hashing with bcrypt, on a small pool of its own.
//!
//! A cost-12 hash takes ~250 ms of CPU. On the async executor it would stall
//! every request on that worker; on tokio's blocking pool a login flood would
//! start hundreds of threads competing with the executor at equal priority.
//! Instead a few dedicated threads run at the lowest CPU priority
//! (`SCHED_IDLE`, or nice 19 with `auth.hash_priority = "low"`), so the
//! executor preempts them whenever it has work, and a bounded queue turns a
//! flood into fast 503s rather than unbounded latency (ADR 0009).

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use strata_domain::users::{Password, PasswordHash};
use tokio::sync::OnceCell;

use crate::ServiceError;

type Job = Box<dyn FnOnce() + Send>;

/// Hashing jobs waiting beyond this are refused with 503.
const QUEUE: usize = 256;

/// How the hashing threads yield the CPU to request handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashPriority {
    /// Normal scheduling at nice 19: the executor wins almost every time,
    /// and logins still progress (slowly) on a saturated core.
    #[default]
    Low,
    /// `SCHED_IDLE` (Linux): hashing runs only when nothing else wants the
    /// CPU, so it never delays a request, but logins wait out any period
    /// in which the core is saturated.
    Idle,
}

/// The dedicated hashing threads. They exit when the last hasher is dropped.
#[derive(Debug)]
struct HashPool {
    jobs: SyncSender<Job>,
}

impl HashPool {
    fn new(threads: usize, priority: HashPriority) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("strata-hash-{index}"))
                .spawn(move || worker(&queue, priority));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "failed to start a password hashing thread");
            }
        }
        Self { jobs }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(job());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(ServiceError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                return Err(ServiceError::internal(
                    "Password hashing pool is gone",
                    "no worker threads",
                ));
            }
        }
        result
            .await
            .map_err(|e| ServiceError::internal("Password hashing job was dropped", e))
    }
}

fn worker(queue: &Mutex<Receiver<Job>>, priority: HashPriority) {
    // Lowering one's own priority needs no privilege; if the platform
    // refuses, hashing still works, only without the latency guarantee.
    if let Err(err) = lower_priority(priority) {
        tracing::warn!(?err, "could not lower the hashing thread's priority");
    }
    loop {
        let job = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

fn lower_priority(priority: HashPriority) -> Result<(), thread_priority::Error> {
    use thread_priority::{ThreadPriority, set_current_thread_priority};
    match priority {
        HashPriority::Low => set_current_thread_priority(ThreadPriority::Min),
        #[cfg(target_os = "linux")]
        HashPriority::Idle => thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Min,
            thread_priority::ThreadSchedulePolicy::Normal(
                thread_priority::NormalThreadSchedulePolicy::Idle,
            ),
        ),
        #[cfg(not(target_os = "linux"))]
        HashPriority::Idle => set_current_thread_priority(ThreadPriority::Min),
    }
}

/// Hashes and verifies passwords at a fixed bcrypt cost.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: u32,
    pool: Arc<HashPool>,
    /// A real hash of a random password, verified against when a login names
    /// no account, so that case costs the same time as a wrong password.
    dummy: Arc<OnceCell<PasswordHash>>,
}

impl PasswordHasher {
    /// `cost` is clamped to bcrypt's valid range (4..=31); hashing runs on
    /// one low-priority thread per CPU.
    pub fn new(cost: u32) -> Self {
        Self::with_priority(cost, HashPriority::Low)
    }

    /// One hashing thread per CPU this process may run on, at `priority`.
    pub fn with_priority(cost: u32, priority: HashPriority) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::with_threads(cost, threads, priority)
    }

    pub fn with_threads(cost: u32, threads: usize, priority: HashPriority) -> Self {
        Self {
            cost: cost.clamp(4, 31),
            pool: Arc::new(HashPool::new(threads, priority)),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// # Errors
    /// [`ServiceError::Overloaded`] when too many hashes are queued;
    /// [`ServiceError::Internal`] when bcrypt fails.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, ServiceError> {
        self.hash_bytes(password.expose().as_bytes().to_vec()).await
    }

    async fn hash_bytes(&self, secret: Vec<u8>) -> Result<PasswordHash, ServiceError> {
        let cost = self.cost;
        let encoded = self
            .pool
            .run(move || bcrypt::hash(secret, cost))
            .await?
            .map_err(|e| ServiceError::internal("Failed to hash password", e))?;
        Ok(PasswordHash::new(encoded))
    }

    /// `true` when `clear` matches `hash`. A malformed stored hash counts as a
    /// mismatch (and is logged), never as a server error the client could
    /// tell apart. An account without a password ([`PasswordHash::none`])
    /// matches nothing, after the same work as a wrong password.
    ///
    /// # Errors
    /// [`ServiceError::Overloaded`] when too many hashes are queued.
    pub async fn verify(&self, clear: &str, hash: &PasswordHash) -> Result<bool, ServiceError> {
        if !hash.is_set() {
            self.verify_dummy(clear).await?;
            return Ok(false);
        }
        self.verify_hash(clear, hash).await
    }

    async fn verify_hash(&self, clear: &str, hash: &PasswordHash) -> Result<bool, ServiceError> {
        let clear = clear.to_owned();
        let encoded = hash.as_str().to_owned();
        let outcome = self
            .pool
            .run(move || bcrypt::verify(clear, &encoded))
            .await?;
        Ok(outcome.unwrap_or_else(|err| {
            tracing::error!(error = %err, "stored password hash is malformed");
            false
        }))
    }

    /// Spends the same work as [`verify`](Self::verify) on a hash no password
    /// matches, to keep "no such user" as slow as "wrong password".
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub async fn verify_dummy(&self, clear: &str) -> Result<(), ServiceError> {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash_bytes(rand::random::<[u8; 16]>().to_vec()))
            .await?;
        self.verify_hash(clear, dummy).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = PasswordHasher::new(4);
        let password = Password::parse("Secret123").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$2"));
        assert!(hasher.verify("Secret123", &hash).await.unwrap());
        assert!(!hasher.verify("Secret124", &hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_a_mismatch_not_an_error() {
        let hasher = PasswordHasher::new(4);
        let broken = PasswordHash::new("not-a-hash".into());
        assert!(!hasher.verify("Secret123", &broken).await.unwrap());
    }

    #[tokio::test]
    async fn an_account_without_a_password_matches_nothing() {
        let hasher = PasswordHasher::new(4);
        assert!(!hasher.verify("", &PasswordHash::none()).await.unwrap());
        assert!(
            !hasher
                .verify(PasswordHash::NONE, &PasswordHash::none())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn the_dummy_verification_succeeds_without_a_user() {
        let hasher = PasswordHasher::new(4);
        hasher.verify_dummy("whatever").await.unwrap();
        hasher.verify_dummy("again").await.unwrap();
    }

    #[tokio::test]
    async fn idle_priority_hashing_still_completes_on_a_quiet_machine() {
        let hasher = PasswordHasher::with_threads(4, 1, HashPriority::Idle);
        let hash = hasher
            .hash(&Password::parse("Secret123").unwrap())
            .await
            .unwrap();
        assert!(hasher.verify("Secret123", &hash).await.unwrap());
    }

    #[test]
    fn cost_is_clamped_to_bcrypts_range() {
        assert_eq!(PasswordHasher::new(1).cost(), 4);
        assert_eq!(PasswordHasher::new(40).cost(), 31);
        assert_eq!(PasswordHasher::new(12).cost(), 12);
    }

    #[tokio::test]
    async fn a_flood_beyond_the_queue_is_refused_quickly_not_queued_without_end() {
        // One thread, a few ms per job, and far more jobs than the queue holds.
        let hasher = PasswordHasher::with_threads(6, 1, HashPriority::Low);
        let hash = PasswordHash::new(bcrypt::hash("Secret123", 6).unwrap());
        let attempts: Vec<_> = (0..QUEUE + 50)
            .map(|_| {
                let hasher = hasher.clone();
                let hash = hash.clone();
                tokio::spawn(async move { hasher.verify("Secret123", &hash).await })
            })
            .collect();
        let mut overloaded = 0;
        for attempt in attempts {
            if matches!(attempt.await.unwrap(), Err(ServiceError::Overloaded)) {
                overloaded += 1;
            }
        }
        assert!(
            overloaded >= 40,
            "{overloaded} of {} were refused",
            QUEUE + 50
        );
    }
}
