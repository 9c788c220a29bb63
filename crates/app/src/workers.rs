//! Wiring of background work: the job handlers with their dependencies, the
//! retry policies (handler defaults overridden by `jobs.kinds`), the
//! periodic jobs, and the runtime that `strata serve` and `strata worker`
//! start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use strata_domain::accounts::AccountTokenRepository;
use strata_domain::auth::SessionRepository;
use strata_domain::files::FileStore;
use strata_domain::idempotency::IdempotencyRepository;
use strata_domain::items::ItemRepository;
use strata_domain::jobs::JobRepository;
use strata_domain::oidc::OidcRepository;
use strata_domain::users::UserRepository;
use strata_mail::{LogMailer, SmtpMailer, SmtpSettings, Tls};
use strata_service::jobs::kinds::export_users::ExportUsers;
use strata_service::jobs::kinds::import_items::ImportItems;
use strata_service::jobs::kinds::purge::{PURGE_AUTH, PURGE_JOBS, PurgeAuth, PurgeJobs};
use strata_service::jobs::kinds::send_email::SendEmail;
use strata_service::jobs::{Handlers, JobPolicies};
use strata_service::mail::Mailer;
use strata_worker::{Periodic, Runtime, RuntimeHandle, Scheduler, WorkerConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{MailSettings, MailTransport, Settings, SmtpTls};

/// What the handlers work on.
#[derive(Clone)]
pub struct JobDeps {
    pub jobs: Arc<dyn JobRepository>,
    pub files: Arc<dyn FileStore>,
    pub users: Arc<dyn UserRepository>,
    pub items: Arc<dyn ItemRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub account_tokens: Arc<dyn AccountTokenRepository>,
    pub oidc: Arc<dyn OidcRepository>,
    pub idempotency: Arc<dyn IdempotencyRepository>,
    pub mailer: Arc<dyn Mailer>,
}

impl std::fmt::Debug for JobDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDeps").finish_non_exhaustive()
    }
}

/// Every kind Strata runs.
pub fn handlers(settings: &Settings, deps: &JobDeps) -> Handlers {
    vec![
        Arc::new(ExportUsers::new(deps.users.clone(), deps.files.clone())),
        Arc::new(ImportItems::new(deps.items.clone(), deps.files.clone())),
        Arc::new(SendEmail::new(deps.mailer.clone())),
        Arc::new(
            PurgeAuth::new(deps.sessions.clone())
                .with_account_tokens(deps.account_tokens.clone())
                .with_oidc(deps.oidc.clone())
                .with_idempotency(deps.idempotency.clone()),
        ),
        Arc::new(PurgeJobs::new(
            deps.jobs.clone(),
            deps.files.clone(),
            settings.jobs.retention(),
        )),
    ]
}

/// The policy of every kind: its handler's defaults, then `jobs.kinds`.
pub fn policies(settings: &Settings, handlers: &Handlers) -> JobPolicies {
    settings.jobs.policies(
        handlers
            .iter()
            .map(|handler| (handler.kind(), handler.policy())),
    )
}

/// The housekeeping fired on a schedule, at odd minutes so that instances
/// started together do not all hit the database on the hour.
///
/// # Errors
/// A cron expression that does not parse (a bug caught by the tests).
pub fn periodic() -> anyhow::Result<Vec<Periodic>> {
    Ok(vec![
        Periodic::new(PURGE_AUTH, "0 7 * * * *", Value::Null)?,
        Periodic::new(PURGE_JOBS, "0 37 * * * *", Value::Null)?,
    ])
}

/// The mail adapter `mail.transport` names.
///
/// # Errors
/// An SMTP configuration the adapter refuses (bad sender, credentials over
/// plain text to another host, ...).
pub fn mailer(settings: &MailSettings) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match settings.transport {
        MailTransport::Log => Arc::new(LogMailer::new()),
        MailTransport::Smtp => Arc::new(
            SmtpMailer::new(SmtpSettings {
                host: settings.smtp_host.clone(),
                port: settings.smtp_port,
                username: settings.smtp_username.clone(),
                password: settings.smtp_password.clone(),
                tls: match settings.smtp_tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls => Tls::StartTls,
                    SmtpTls::Tls => Tls::Wrapper,
                },
                from: settings.from.clone(),
                timeout_secs: settings.smtp_timeout_secs,
            })
            .context("Invalid mail configuration (mail.*)")?,
        ),
    })
}

/// A running job runtime and scheduler.
#[derive(Debug)]
pub struct Workers {
    runtime: RuntimeHandle,
    scheduler: JoinHandle<()>,
    stop_scheduler: watch::Sender<bool>,
}

impl Workers {
    /// Starts `concurrency` workers and the scheduler over `deps`.
    ///
    /// # Errors
    /// A periodic job's cron expression that does not parse.
    pub fn start(settings: &Settings, deps: &JobDeps, concurrency: usize) -> anyhow::Result<Self> {
        let handlers = handlers(settings, deps);
        let policies = policies(settings, &handlers);
        let config = WorkerConfig {
            id: WorkerConfig::process_id(),
            concurrency: concurrency.max(1),
            poll_interval: settings.jobs.poll_interval(),
            lease: settings.jobs.lease(),
            shutdown_grace: Duration::from_secs(settings.jobs.shutdown_grace_secs),
        };
        let runtime = Runtime::new(deps.jobs.clone(), handlers, policies.clone(), config).start();
        let (stop_scheduler, stopped) = watch::channel(false);
        let scheduler = Scheduler::new(deps.jobs.clone(), periodic()?, policies).spawn(stopped);
        Ok(Self {
            runtime,
            scheduler,
            stop_scheduler,
        })
    }

    /// Stops the scheduler, then the runtime (which lets running jobs finish
    /// within `jobs.shutdown_grace_secs` and hands back the rest).
    pub async fn shutdown(self) {
        let _ = self.stop_scheduler.send(true);
        let _ = self.scheduler.await;
        self.runtime.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_periodic_jobs_parse() {
        assert_eq!(super::periodic().map(|p| p.len()).ok(), Some(2));
    }
}
