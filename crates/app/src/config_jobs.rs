//! The configuration of background jobs, their files and outgoing mail.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;
use strata_service::jobs::{JobPolicies, RetryPolicy};

use crate::config::empty_is_none;

#[derive(Debug, Clone, Deserialize)]
pub struct JobsSettings {
    /// Jobs `strata serve` runs at once in-process; 0 runs none there (run
    /// `strata worker` processes instead).
    pub workers: usize,
    /// The longest an idle worker waits before looking for due jobs.
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    /// On shutdown, how long running jobs get before they are handed back.
    pub shutdown_grace_secs: u64,
    /// Finished jobs and their files are deleted after this many days.
    pub retention_days: u64,
    /// Largest accepted CSV import.
    pub import_max_bytes: usize,
    /// `/health/ready` reports a backlog when a due job waited longer.
    pub backlog_warn_secs: u64,
    /// Where `strata worker` serves `/health` and `/metrics` (`host:port`);
    /// unset serves nothing. `strata serve` has its own on the API's port.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub metrics_addr: Option<String>,
    /// Per-kind overrides of the handlers' defaults.
    #[serde(default)]
    pub kinds: HashMap<String, KindSettings>,
}

/// Any key left out keeps the handler's default.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KindSettings {
    pub max_attempts: Option<i32>,
    pub backoff_base_secs: Option<f64>,
    pub backoff_factor: Option<f64>,
    pub backoff_cap_secs: Option<f64>,
    pub concurrency: Option<usize>,
}

impl JobsSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_days.saturating_mul(86_400))
    }

    /// The policy of each kind: `defaults` (the handlers' own), overridden
    /// key by key from `jobs.kinds.<kind>`.
    pub fn policies(
        &self,
        defaults: impl IntoIterator<Item = (&'static str, RetryPolicy)>,
    ) -> JobPolicies {
        let mut policies = JobPolicies::default();
        for (kind, mut policy) in defaults {
            if let Some(over) = self.kinds.get(kind) {
                if let Some(v) = over.max_attempts {
                    policy.max_attempts = v;
                }
                if let Some(v) = over.backoff_base_secs {
                    policy.backoff_base = Duration::from_secs_f64(v);
                }
                if let Some(v) = over.backoff_factor {
                    policy.backoff_factor = v;
                }
                if let Some(v) = over.backoff_cap_secs {
                    policy.backoff_cap = Duration::from_secs_f64(v);
                }
                if over.concurrency.is_some() {
                    policy.concurrency = over.concurrency;
                }
            }
            policies.set(kind, policy);
        }
        policies
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if !(1..=60_000).contains(&self.poll_interval_ms) {
            bail!("jobs.poll_interval_ms must be between 1 and 60000");
        }
        if self.lease_secs < 3 {
            bail!("jobs.lease_secs must be at least 3 (the lease is renewed every third of it)");
        }
        if self.import_max_bytes == 0 {
            bail!("jobs.import_max_bytes must be at least 1");
        }
        for (kind, over) in &self.kinds {
            let bad_secs = |v: Option<f64>| v.is_some_and(|s| !(0.0..=86_400.0 * 7.0).contains(&s));
            if over.max_attempts.is_some_and(|n| n < 1)
                || over
                    .backoff_factor
                    .is_some_and(|f| !(1.0..=100.0).contains(&f))
                || bad_secs(over.backoff_base_secs)
                || bad_secs(over.backoff_cap_secs)
                || over.concurrency == Some(0)
            {
                bail!(
                    "jobs.kinds.{kind}: max_attempts and concurrency must be at least 1, backoff_factor \
                     between 1 and 100, and backoff times between 0 and 7 days"
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    /// Where job files (exports, uploaded imports) are kept.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Development: every message is written to the log.
    Log,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Clone, Deserialize)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    #[serde(deserialize_with = "empty_is_none")]
    pub smtp_username: Option<String>,
    #[serde(deserialize_with = "empty_is_none")]
    pub smtp_password: Option<String>,
    pub smtp_tls: SmtpTls,
    pub smtp_timeout_secs: u64,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("transport", &self.transport)
            .field("from", &self.from)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_username", &self.smtp_username)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<redacted>"),
            )
            .field("smtp_tls", &self.smtp_tls)
            .finish_non_exhaustive()
    }
}
