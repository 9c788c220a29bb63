//! The composition root: builds the database, repositories, services and the
//! HTTP server from [`Settings`]. The binary and the end-to-end tests both
//! start Strata through [`Application::build`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::Server;
pub use actix_web::dev::ServerHandle;
use anyhow::Context;
use strata_domain::accounts::AccountTokenRepository;
use strata_domain::auth::SessionRepository;
use strata_domain::events::{EventBus, TopicFilter};
use strata_domain::items::ItemRepository;
use strata_domain::jobs::JobRepository;
use strata_domain::oidc::OidcRepository;
use strata_domain::users::UserRepository;
use strata_http::auth::CookieSettings;
use strata_http::catalog::CatalogCache;
use strata_http::rate_limit::{MemoryStore, Quota, RateLimitStore, RedisStore};
use strata_http::{AppState, CorsSettings, EdgeConfig, HttpSettings, MetricsEndpoint, RateLimits};
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::{
    DatabaseConnection, LocalFileStore, SeaAccountTokenRepository, SeaCatalogRepository,
    SeaHealthRepository, SeaIdempotencyRepository, SeaItemRepository, SeaJobRepository,
    SeaNotificationRepository, SeaOidcRepository, SeaOrderRepository, SeaPostRepository,
    SeaProfileRepository, SeaRealtimeRepository, SeaSessionRepository, SeaUserRepository,
};
use strata_service::jobs::JobServiceImpl;
use strata_service::jobs::kinds::send_email;
use strata_service::revocation::Revoker;
use strata_service::{
    AccountMail, AccountServiceImpl, AuthConfig, AuthServiceImpl, CatalogServiceImpl, Dispatcher,
    HealthServiceImpl, IdempotencyServiceImpl, Invalidation, ItemServiceImpl,
    NotificationServiceImpl, OidcServiceImpl, OrderServiceImpl, PasswordHasher, PostServiceImpl,
    ProfileServiceImpl, RealtimeServiceImpl, RevocationList, TokenCodec, UserServiceImpl,
};
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::workers::{self, JobDeps, Workers};

/// How often expired revocations are dropped from memory (the `purge_auth`
/// job deletes expired rows from the database).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Makes ring the process's TLS crypto provider before any HTTP client is
/// built (see [`strata_oidc::install_crypto_provider`]: without it, every
/// reqwest client in this build panics on construction).
pub fn install_crypto_provider() {
    strata_oidc::install_crypto_provider();
}

/// Opens the database and applies pending migrations when configured.
///
/// # Errors
/// Connection or migration failures, with the URL's scheme in the context.
pub async fn database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = strata_repository::connect(&settings.database.url, settings.database.max_connections)
        .await
        .with_context(|| {
            format!(
                "Failed to connect to the database ({})",
                scheme(&settings.database.url)
            )
        })?;
    if settings.database.auto_migrate {
        Migrator::up(&db, None)
            .await
            .context("Failed to apply migrations")?;
    }
    Ok(db)
}

/// The URL without credentials, for messages.
fn scheme(url: &str) -> &str {
    url.split_once(':').map_or(url, |(scheme, _)| scheme)
}

/// The wired services, before an HTTP server is put in front of them.
pub struct Services {
    pub state: AppState,
    pub db: DatabaseConnection,
    pub hasher: PasswordHasher,
    pub auth: Arc<AuthServiceImpl>,
    pub sessions: Arc<dyn SessionRepository>,
    pub revocations: RevocationList,
    /// What every instance publishes revocations and account changes on.
    pub bus: Arc<dyn EventBus>,
    /// Applies what the bus delivers to this instance's memory, once spawned
    /// (by a server; a one-shot command only publishes).
    pub invalidation: Invalidation,
    /// Hands user events to this instance's sockets, once spawned (by a
    /// server).
    pub dispatcher: Dispatcher,
    /// What the job handlers need, for whoever runs workers.
    pub job_deps: JobDeps,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// Builds every service over `db` and loads the revocations in force.
///
/// # Errors
/// Failure to read the revocations table.
pub async fn services(settings: &Settings, db: DatabaseConnection) -> anyhow::Result<Services> {
    let db_for_services = db.clone();
    let bus = crate::events::bus(settings, &db).await?;
    // The repositories whose changes a user's socket reports publish them
    // once they committed.
    let users: Arc<dyn UserRepository> =
        Arc::new(SeaUserRepository::new(db.clone()).with_events(bus.clone()));
    let items: Arc<dyn ItemRepository> = Arc::new(SeaItemRepository::new(db.clone()));
    let jobs: Arc<dyn JobRepository> =
        Arc::new(SeaJobRepository::new(db.clone()).with_events(bus.clone()));
    let sessions: Arc<dyn SessionRepository> = Arc::new(SeaSessionRepository::new(db.clone()));
    let account_tokens: Arc<dyn AccountTokenRepository> =
        Arc::new(SeaAccountTokenRepository::new(db.clone()));
    let oidc_store: Arc<dyn OidcRepository> = Arc::new(SeaOidcRepository::new(db.clone()));
    let auth_settings = &settings.auth;
    let tokens = Arc::new(TokenCodec::new(
        settings.jwt_secret(),
        &auth_settings.issuer,
        &auth_settings.audience,
        auth_settings.access_ttl_secs,
    ));
    let priority = match auth_settings.hash_priority {
        crate::config::HashPrioritySetting::Low => strata_service::HashPriority::Low,
        crate::config::HashPrioritySetting::Idle => strata_service::HashPriority::Idle,
    };
    let hasher = PasswordHasher::with_priority(auth_settings.bcrypt_cost, priority);
    let revocations = RevocationList::new();
    // Subscribed before the load below, so that nothing revoked in between
    // is missed.
    let subscription = bus.subscribe(TopicFilter::All);
    let (realtime, dispatcher) = RealtimeServiceImpl::new(
        Arc::new(SeaRealtimeRepository::new(db.clone())),
        revocations.clone(),
        bus.subscribe(TopicFilter::All),
        settings.realtime.service(),
    );
    // Revocations must be in memory before the first request is served, or a
    // token revoked before a restart would work again until the first poll.
    revocations
        .sync(sessions.as_ref(), chrono::Utc::now())
        .await
        .context("Failed to load revocations")?;
    let revoker = Revoker::new(
        sessions.clone(),
        revocations.clone(),
        auth_settings.access_ttl_secs,
    )
    .with_events(bus.clone());
    let job_deps = JobDeps {
        jobs: jobs.clone(),
        files: Arc::new(LocalFileStore::new(settings.storage.dir.clone())),
        users: users.clone(),
        items: items.clone(),
        sessions: sessions.clone(),
        account_tokens: account_tokens.clone(),
        oidc: oidc_store.clone(),
        idempotency: Arc::new(SeaIdempotencyRepository::new(db.clone())),
        mailer: workers::mailer(&settings.mail)?,
    };
    let policies = workers::policies(settings, &workers::handlers(settings, &job_deps));
    let account_mail = Arc::new(
        AccountMail::new(crate::config::account_settings(
            settings,
            policies.of(send_email::KIND).max_attempts,
        ))
        .context("Failed to prepare the account mail templates")?,
    );
    let auth_config = AuthConfig {
        access_ttl_secs: auth_settings.access_ttl_secs,
        refresh_ttl_secs: auth_settings.refresh_ttl_secs,
    };
    let oidc = OidcServiceImpl::new(
        settings.oidc.providers()?,
        users.clone(),
        oidc_store,
        sessions.clone(),
        tokens.clone(),
        auth_config,
        settings.oidc.settings(),
    )
    .with_account_mail(account_mail.clone());
    let auth = Arc::new(
        AuthServiceImpl::new(
            users.clone(),
            sessions.clone(),
            tokens,
            hasher.clone(),
            revoker.clone(),
            auth_config,
        )
        .with_account_mail(account_mail.clone()),
    );
    let user_service = UserServiceImpl::new(users.clone(), hasher.clone(), revoker.clone())
        .with_cache(
            Duration::from_secs(settings.cache.user_ttl_secs),
            settings.cache.user_capacity,
        )
        .with_account_mail(account_mail.clone())
        .with_events(bus.clone());
    let invalidation = Invalidation::new(
        subscription,
        revocations.clone(),
        sessions.clone(),
        user_service.cache(),
    );
    let accounts =
        AccountServiceImpl::new(users, account_tokens, account_mail, hasher.clone(), revoker)
            .forgetting_through(user_service.forgetter());
    let state = AppState {
        idempotency: Arc::new(IdempotencyServiceImpl::new(
            job_deps.idempotency.clone(),
            settings.idempotency.settings(),
        )),
        auth: auth.clone(),
        accounts: Arc::new(accounts),
        oidc: Arc::new(oidc),
        jobs: Arc::new(JobServiceImpl::new(
            jobs.clone(),
            job_deps.files.clone(),
            policies,
        )),
        users: Arc::new(user_service),
        items: Arc::new(ItemServiceImpl::new(items)),
        notifications: Arc::new(NotificationServiceImpl::new(Arc::new(
            SeaNotificationRepository::new(db.clone()),
        ))),
        posts: Arc::new(PostServiceImpl::new(Arc::new(
            SeaPostRepository::new(db.clone()).with_events(bus.clone()),
        ))),
        profiles: Arc::new(ProfileServiceImpl::new(Arc::new(
            SeaProfileRepository::new(db.clone()),
        ))),
        realtime: Arc::new(realtime),
        catalog: Arc::new(CatalogServiceImpl::new(Arc::new(
            SeaCatalogRepository::new(db.clone()),
        ))),
        orders: Arc::new(OrderServiceImpl::new(Arc::new(SeaOrderRepository::new(
            db.clone(),
        )))),
        health: Arc::new(
            HealthServiceImpl::new(Arc::new(SeaHealthRepository::new(db)))
                .with_queue(jobs, Duration::from_secs(settings.jobs.backlog_warn_secs))
                .with_bus(bus.clone()),
        ),
    };
    Ok(Services {
        state,
        db: db_for_services,
        hasher,
        auth,
        sessions,
        revocations,
        bus,
        invalidation,
        dispatcher,
        job_deps,
    })
}

/// A bound, not yet running, Strata server.
pub struct Application {
    port: u16,
    server: Server,
    maintenance: JoinHandle<()>,
    invalidation: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
    gauges: JoinHandle<()>,
    /// In-process workers, unless `jobs.workers` is 0 or `--no-workers`.
    workers: Option<Workers>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects, migrates (when configured), wires and binds. Port 0 binds a
    /// free port; see [`Application::port`].
    ///
    /// # Errors
    /// Database, migration or bind failures.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let workers = settings.jobs.workers;
        Self::build_with_workers(settings, workers).await
    }

    /// As [`Application::build`], running `workers` jobs at once in-process
    /// (none for 0).
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with_workers(settings: Settings, workers: usize) -> anyhow::Result<Self> {
        install_crypto_provider();
        let db = database(&settings).await?;
        let services = services(&settings, db).await?;
        // Pay for the login-timing dummy hash now, not on the first request
        // that names an unknown user (which would make that one measurably slower).
        let hasher = services.hasher.clone();
        tokio::spawn(async move {
            if let Err(err) = hasher.verify_dummy("").await {
                tracing::warn!(error = %err, "failed to prepare the dummy password hash");
            }
        });
        let maintenance = services.revocations.spawn_maintenance(
            services.sessions.clone(),
            Duration::from_secs(settings.auth.revocation_poll_secs.max(1)),
            PRUNE_EVERY,
        );
        let invalidation = services.invalidation.spawn();
        let dispatcher = services.dispatcher.spawn();

        let http = http_settings(&settings).await?;
        let gauges = crate::operations::spawn_gauges(
            services.db.clone(),
            services.job_deps.jobs.clone(),
            http.metrics.handle.clone(),
        );
        let workers = if workers > 0 {
            Some(Workers::start(&settings, &services.job_deps, workers)?)
        } else {
            None
        };

        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("Failed to bind {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        let state = services.state;
        let conduit = settings.conduit.enabled.then(|| {
            let adapter = strata_conduit::Conduit {
                auth: state.auth.clone(),
                accounts: state.accounts.clone(),
                users: state.users.clone(),
                profiles: state.profiles.clone(),
                posts: state.posts.clone(),
                throttle: crate::conduit::throttle(&http.rate_limits),
            };
            (settings.conduit.path.clone(), adapter)
        });
        let graphql = settings.graphql.enabled.then(|| {
            let adapter = crate::graphql::adapter(
                &settings.graphql,
                &state,
                settings.server.body_limit_bytes,
            );
            (settings.graphql.path.clone(), adapter)
        });
        let server_settings = &settings.server;
        let mut server = HttpServer::new(move || {
            let app = strata_http::app(state.clone(), http.clone());
            // The same rate limits, CORS policy and handler timeout as
            // `/api/v1`; the edge (request ids, security headers, access
            // log) wraps every route already.
            let app = match &graphql {
                Some((path, adapter)) => app.service(
                    strata_graphql::scope(path, adapter.clone())
                        .wrap(actix_web::middleware::from_fn(
                            strata_http::rate_limit::default_budget,
                        ))
                        .wrap(strata_http::cors(&http.cors))
                        .wrap(actix_web::middleware::from_fn(
                            strata_http::middleware::handler_timeout,
                        )),
                ),
                None => app,
            };
            match &conduit {
                // The same CORS policy and handler timeout as `/api/v1`.
                Some((path, adapter)) => app.service(
                    strata_conduit::scope(path, adapter.clone())
                        .wrap(strata_http::cors(&http.cors))
                        .wrap(actix_web::middleware::from_fn(
                            strata_http::middleware::handler_timeout,
                        )),
                ),
                None => app,
            }
        })
        // Signals are handled in `run_until_stopped`, gracefully for both.
        .disable_signals()
        .shutdown_timeout(server_settings.shutdown_timeout_secs)
        // Slow-loris defences: the head must arrive promptly, idle
        // keep-alive connections are reaped.
        .client_request_timeout(Duration::from_secs(
            server_settings.client_request_timeout_secs,
        ))
        .client_disconnect_timeout(Duration::from_secs(
            server_settings.client_disconnect_timeout_secs,
        ))
        .keep_alive(Duration::from_secs(server_settings.keep_alive_secs));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();
        tracing::info!(port, environment = %settings.environment, "Strata is listening");
        Ok(Self {
            port,
            server,
            maintenance,
            invalidation,
            dispatcher,
            gauges,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or [`ServerHandle::stop`]); in-flight
    /// requests get `server.shutdown_timeout_secs` to finish.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // actix stops at once on SIGINT; both signals should drain instead.
        let handle = self.server.handle();
        let signals = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown signal received; finishing in-flight requests");
            handle.stop(true).await;
        });
        let result = self.server.await;
        signals.abort();
        // Requests are drained; running jobs get their own grace period.
        if let Some(workers) = self.workers {
            workers.shutdown().await;
        }
        self.maintenance.abort();
        self.invalidation.abort();
        self.dispatcher.abort();
        self.gauges.abort();
        result
    }
}

/// The HTTP layer's settings: limits, rate limiting (with its store), CORS,
/// metrics and cookie mode.
///
/// # Errors
/// An unreachable Redis when `redis.url` is set (a configured shared limiter
/// that silently fell back to per-instance budgets would hide a misconfiguration).
pub async fn http_settings(settings: &Settings) -> anyhow::Result<HttpSettings> {
    let catalog = settings.cache.catalog();
    let prefix = &settings.redis.key_prefix;
    let (store, catalog_cache): (Arc<dyn RateLimitStore>, _) = match &settings.redis.url {
        Some(url) => {
            let redis = RedisStore::connect(url, &format!("{prefix}:ratelimit"))
                .await
                .context("Failed to connect to Redis (redis.url)")?;
            let cache =
                CatalogCache::shared(&catalog, redis.connection(), &format!("{prefix}:catalog"));
            (Arc::new(redis), cache)
        }
        None => (
            Arc::new(MemoryStore::default()),
            CatalogCache::local(&catalog),
        ),
    };
    let limits = &settings.rate_limit;
    let server = &settings.server;
    Ok(HttpSettings {
        body_limit: server.body_limit_bytes,
        import_max_bytes: settings.jobs.import_max_bytes,
        socket_limits: settings.realtime.limits(),
        catalog_cache,
        edge: EdgeConfig {
            request_timeout: Duration::from_secs(server.request_timeout_secs.max(1)),
            compress_min_bytes: server.compress_min_bytes,
            ..EdgeConfig::new((server.hsts_max_age_secs > 0).then_some(server.hsts_max_age_secs))
        },
        rate_limits: RateLimits::new(
            limits.enabled,
            Quota::per_minute(limits.per_minute),
            Quota::per_minute(limits.login_per_minute),
            settings.trusted_proxies()?,
            store,
        ),
        cors: CorsSettings {
            allowed_origins: settings.cors.allowed_origins.clone(),
            allowed_methods: settings.cors.allowed_methods.clone(),
            allowed_headers: settings.cors.allowed_headers.clone(),
            allow_credentials: settings.cors.allow_credentials,
            max_age_secs: settings.cors.max_age_secs,
        },
        metrics: MetricsEndpoint {
            handle: strata_http::metrics::install(),
            token: settings.metrics.token.clone(),
        },
        cookies: CookieSettings {
            enabled: settings.auth.cookie_sessions,
            secure: settings.auth.cookie_secure,
            max_age_secs: i64::try_from(settings.auth.refresh_ttl_secs).unwrap_or(i64::MAX),
        },
    })
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut stream) => {
                    stream.recv().await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
