//! Layered configuration: embedded defaults, `config/default.toml`,
//! `config/{APP_ENV}.toml`, `APP__SECTION__KEY` variables, then the
//! conventional `DATABASE_URL`, `PORT` and `JWT_SECRET`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

pub use crate::config_accounts::{AppSettings, account_settings};
pub use crate::config_jobs::{
    JobsSettings, KindSettings, MailSettings, MailTransport, SmtpTls, StorageSettings,
};
pub use crate::config_oidc::{OidcConfig, ProviderConfig};
pub use crate::config_realtime::RealtimeSettings;

/// The shipped configuration, compiled in so the binary runs from any
/// directory; files on disk (in `APP_CONFIG_DIR`) override it.
const DEFAULTS: &str = include_str!("../../../config/default.toml");
const BUILT_IN_ENVIRONMENTS: [(&str, &str); 3] = [
    (
        "development",
        include_str!("../../../config/development.toml"),
    ),
    ("test", include_str!("../../../config/test.toml")),
    (
        "production",
        include_str!("../../../config/production.toml"),
    ),
];
/// The development secret shipped in `config/development.toml`; refused in production.
const DEV_SECRET: &str = "dev-only-insecure-jwt-secret-do-not-use-in-production";
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The environment name (`APP_ENV`), not read from files.
    #[serde(skip)]
    pub environment: String,
    pub app: AppSettings,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub cache: CacheSettings,
    pub idempotency: IdempotencyConfig,
    pub rate_limit: RateLimitSettings,
    pub redis: RedisSettings,
    pub cors: CorsSettings,
    pub metrics: MetricsSettings,
    pub telemetry: TelemetrySettings,
    pub log: LogSettings,
    pub jobs: JobsSettings,
    pub storage: StorageSettings,
    pub mail: MailSettings,
    pub realtime: RealtimeSettings,
    pub oidc: OidcConfig,
    pub conduit: crate::conduit::ConduitSettings,
    pub graphql: crate::graphql::GraphqlSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    pub user_ttl_secs: u64,
    pub user_capacity: u64,
    pub catalog_max_age_secs: u32,
    pub catalog_capacity_mib: u64,
    pub catalog_ttl_secs: u64,
}

impl CacheSettings {
    pub fn catalog(&self) -> strata_http::catalog::CatalogCacheSettings {
        strata_http::catalog::CatalogCacheSettings {
            max_age_secs: self.catalog_max_age_secs,
            capacity_bytes: self.catalog_capacity_mib.saturating_mul(1024 * 1024),
            ttl: Duration::from_secs(self.catalog_ttl_secs.max(1)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencyConfig {
    pub ttl_secs: u64,
    pub lease_secs: u64,
}

impl IdempotencyConfig {
    pub fn settings(&self) -> strata_service::IdempotencySettings {
        strata_service::IdempotencySettings {
            ttl: Duration::from_secs(self.ttl_secs),
            lease: Duration::from_secs(self.lease_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub per_minute: u32,
    pub login_per_minute: u32,
    pub trusted_proxies: Vec<String>,
}

#[derive(Clone, Deserialize)]
pub struct RedisSettings {
    #[serde(deserialize_with = "empty_is_none")]
    pub url: Option<String>,
    pub key_prefix: String,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisSettings")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_secs: usize,
}

#[derive(Clone, Deserialize)]
pub struct MetricsSettings {
    #[serde(deserialize_with = "empty_is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    #[serde(deserialize_with = "empty_is_none")]
    pub otlp_endpoint: Option<String>,
}

/// TOML has no null: an empty string means "unset".
pub(crate) fn empty_is_none<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value.filter(|v| !v.trim().is_empty()))
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub body_limit_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub hsts_max_age_secs: u64,
    pub request_timeout_secs: u64,
    pub client_request_timeout_secs: u64,
    pub client_disconnect_timeout_secs: u64,
    pub keep_alive_secs: u64,
    pub compress_min_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub auto_migrate: bool,
}

#[derive(Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub bcrypt_cost: u32,
    pub hash_priority: HashPrioritySetting,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub revocation_poll_secs: u64,
    pub cookie_sessions: bool,
    pub cookie_secure: bool,
    /// Refuse content writes by accounts with an unverified address (403
    /// `EMAIL_NOT_VERIFIED`).
    pub require_verified_email: bool,
    pub verify_email_ttl_secs: u64,
    pub password_reset_ttl_secs: u64,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("access_ttl_secs", &self.access_ttl_secs)
            .field("refresh_ttl_secs", &self.refresh_ttl_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashPrioritySetting {
    Low,
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `strata=debug,sqlx=warn`;
    /// `RUST_LOG` overrides it.
    pub level: String,
}

impl Settings {
    /// Loads the settings for `APP_ENV` from `APP_CONFIG_DIR` (default
    /// `config/`) and the process environment.
    ///
    /// # Errors
    /// Unreadable or ill-typed configuration, or a missing/weak JWT secret.
    pub fn load() -> anyhow::Result<Self> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let environment = vars
            .get("APP_ENV")
            .cloned()
            .unwrap_or_else(|| "development".to_owned());
        let dir = vars
            .get("APP_CONFIG_DIR")
            .map_or_else(|| PathBuf::from("config"), PathBuf::from);
        Self::load_from(&dir, &environment, &vars)
    }

    /// Loads from `dir` for `environment` with `vars` standing in for the
    /// process environment (so tests need not mutate it).
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_from(
        dir: &Path,
        environment: &str,
        vars: &HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let built_in = BUILT_IN_ENVIRONMENTS
            .iter()
            .find(|(name, _)| *name == environment)
            .map_or("", |(_, toml)| toml);
        let mut builder = Config::builder()
            // Defaults before environment files, built-in before on-disk: an
            // operator's default.toml must not undo production.toml.
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(false))
            .add_source(File::from_str(built_in, FileFormat::Toml))
            .add_source(File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(
                Environment::with_prefix("APP")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("rate_limit.trusted_proxies")
                    .with_list_parse_key("cors.allowed_origins")
                    .with_list_parse_key("cors.allowed_methods")
                    .with_list_parse_key("cors.allowed_headers")
                    .source(Some(vars.clone())),
            );
        // The conventional names yield to an explicit APP__ variable.
        for (conventional, key, app_var) in [
            ("DATABASE_URL", "database.url", "APP__DATABASE__URL"),
            ("PORT", "server.port", "APP__SERVER__PORT"),
            ("JWT_SECRET", "auth.jwt_secret", "APP__AUTH__JWT_SECRET"),
        ] {
            if !vars.contains_key(app_var) {
                builder = builder.set_override_option(key, vars.get(conventional).cloned())?;
            }
        }
        let mut settings: Self = builder
            .build()
            .context("Failed to read configuration")?
            .try_deserialize()
            .context("Invalid configuration")?;
        settings.environment = environment.to_owned();
        // `A, B` in an environment variable is two entries, not "A" and " B".
        for list in [
            &mut settings.cors.allowed_origins,
            &mut settings.cors.allowed_methods,
            &mut settings.cors.allowed_headers,
            &mut settings.rate_limit.trusted_proxies,
        ] {
            *list = list
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        settings.validate()?;
        Ok(settings)
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    fn validate(&self) -> anyhow::Result<()> {
        match self.auth.jwt_secret.as_deref() {
            None | Some("") => bail!(
                "no JWT secret is configured for the '{}' environment: set JWT_SECRET (or \
                 APP__AUTH__JWT_SECRET) to at least {MIN_SECRET_BYTES} random bytes, e.g. \
                 `openssl rand -base64 48`",
                self.environment
            ),
            Some(secret) if secret.len() < MIN_SECRET_BYTES => bail!(
                "the JWT secret is {} bytes long; it must be at least {MIN_SECRET_BYTES}: set \
                 JWT_SECRET to a longer random value, e.g. `openssl rand -base64 48`",
                secret.len()
            ),
            Some(DEV_SECRET) if self.is_production() => bail!(
                "the development JWT secret cannot be used in production: set JWT_SECRET to \
                 your own random value, e.g. `openssl rand -base64 48`"
            ),
            Some(_) => {}
        }
        self.realtime.validate()?;
        self.conduit.validate()?;
        self.graphql.validate(&self.conduit)?;
        if self.idempotency.lease_secs <= self.server.request_timeout_secs {
            bail!(
                "idempotency.lease_secs ({}) must be longer than server.request_timeout_secs ({}): \
                 a retry could otherwise run beside a request still in progress",
                self.idempotency.lease_secs,
                self.server.request_timeout_secs
            );
        }
        if self.idempotency.ttl_secs < self.idempotency.lease_secs {
            bail!("idempotency.ttl_secs must be at least idempotency.lease_secs");
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            bail!(
                "auth.bcrypt_cost must be between 4 and 31, not {}",
                self.auth.bcrypt_cost
            );
        }
        for origin in &self.cors.allowed_origins {
            let valid = origin == "*"
                || ((origin.starts_with("https://") || origin.starts_with("http://"))
                    && origin.parse::<actix_web::http::Uri>().is_ok_and(|uri| {
                        uri.host().is_some() && uri.path() == "/" && !origin.ends_with('/')
                    }));
            if !valid {
                bail!(
                    "cors.allowed_origins: {origin:?} is not an origin (scheme://host[:port], no path), nor \"*\""
                );
            }
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && !endpoint.starts_with("http://")
        {
            bail!(
                "telemetry.otlp_endpoint must be an http:// URL (this build has no TLS client for OTLP): \
                 point it at a local collector or sidecar"
            );
        }
        if self.cors.allow_credentials && self.cors.allowed_origins.iter().any(|o| o == "*") {
            bail!(
                "cors.allowed_origins cannot contain \"*\" while cors.allow_credentials is true: list the origins"
            );
        }
        if self.rate_limit.per_minute == 0 || self.rate_limit.login_per_minute == 0 {
            bail!(
                "rate_limit.per_minute and rate_limit.login_per_minute must be at least 1 (use rate_limit.enabled = false to turn limiting off)"
            );
        }
        self.trusted_proxies()?;
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        self.jobs.validate()?;
        self.oidc.validate()?;
        Ok(())
    }

    /// `rate_limit.trusted_proxies` as networks (a bare address is a /32 or /128).
    ///
    /// # Errors
    /// An entry that is neither an IP address nor a CIDR.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.rate_limit
            .trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "rate_limit.trusted_proxies: {entry:?} is not an IP address or CIDR"
                        )
                    })
            })
            .collect()
    }

    /// The secret, present after validation.
    pub fn jwt_secret(&self) -> &[u8] {
        self.auth
            .jwt_secret
            .as_deref()
            .unwrap_or_default()
            .as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    fn load(environment: &str, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::load_from(&config_dir(), environment, &vars)
    }

    #[test]
    fn development_defaults_serve_sqlite_on_localhost_8080() {
        let s = load("development", &[]).unwrap();
        assert_eq!(s.server.host, "127.0.0.1");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.database.url, "sqlite://data/strata.db?mode=rwc");
        assert_eq!(s.database.max_connections, 10);
        assert!(s.database.auto_migrate);
        assert_eq!(s.auth.bcrypt_cost, 12);
        assert_eq!(
            (s.auth.access_ttl_secs, s.auth.refresh_ttl_secs),
            (900, 2_592_000)
        );
        assert_eq!(s.log.format, LogFormat::Pretty);
    }

    #[test]
    fn the_shipped_configuration_works_without_a_config_directory() {
        let nowhere = Path::new("/nonexistent-config-dir");
        let s = Settings::load_from(nowhere, "development", &HashMap::new()).unwrap();
        assert_eq!(s.server.port, 8080);
        assert!(s.auth.jwt_secret.is_some());
        let s = Settings::load_from(
            nowhere,
            "production",
            &HashMap::from([("JWT_SECRET".into(), "k".repeat(40))]),
        )
        .unwrap();
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn cors_refuses_a_wildcard_with_credentials_and_lists_parse_from_the_environment() {
        let err = load(
            "development",
            &[
                ("APP__CORS__ALLOWED_ORIGINS", "*"),
                ("APP__CORS__ALLOW_CREDENTIALS", "true"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("allow_credentials"), "{err}");
        let s = load(
            "development",
            &[(
                "APP__CORS__ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            )],
        )
        .unwrap();
        assert_eq!(
            s.cors.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn cors_origins_are_trimmed_and_checked_at_load() {
        let s = load(
            "development",
            &[(
                "APP__CORS__ALLOWED_ORIGINS",
                "https://a.example, http://b.example:8080",
            )],
        )
        .unwrap();
        assert_eq!(
            s.cors.allowed_origins,
            ["https://a.example", "http://b.example:8080"]
        );
        for bad in ["a.example", "https://a.example/path", "ftp://a.example"] {
            assert!(
                load("development", &[("APP__CORS__ALLOWED_ORIGINS", bad)]).is_err(),
                "{bad}"
            );
        }
        assert!(
            load("development", &[("APP__CORS__ALLOWED_ORIGINS", "")])
                .unwrap()
                .cors
                .allowed_origins
                .is_empty()
        );
    }

    #[test]
    fn an_https_otlp_endpoint_is_refused_rather_than_failing_silently() {
        let err = load(
            "development",
            &[("APP__TELEMETRY__OTLP_ENDPOINT", "https://collector.example")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        assert!(
            load(
                "development",
                &[("APP__TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:4318")]
            )
            .is_ok()
        );
    }

    #[test]
    fn trusted_proxies_accept_addresses_and_cidrs_and_refuse_garbage() {
        let s = load(
            "development",
            &[("APP__RATE_LIMIT__TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")],
        )
        .unwrap();
        assert_eq!(s.trusted_proxies().unwrap().len(), 2);
        assert!(
            load(
                "development",
                &[("APP__RATE_LIMIT__TRUSTED_PROXIES", "proxy.local")]
            )
            .is_err()
        );
    }

    #[test]
    fn unset_optional_urls_are_none() {
        let s = load("development", &[]).unwrap();
        assert!(
            s.redis.url.is_none()
                && s.metrics.token.is_none()
                && s.telemetry.otlp_endpoint.is_none()
        );
        assert!(s.rate_limit.enabled);
        assert!(!load("test", &[]).unwrap().rate_limit.enabled);
        let s = load(
            "development",
            &[("APP__REDIS__URL", "redis://127.0.0.1:6379")],
        )
        .unwrap();
        assert_eq!(s.redis.url.as_deref(), Some("redis://127.0.0.1:6379"));
    }

    #[test]
    fn the_test_environment_uses_the_minimum_bcrypt_cost() {
        assert_eq!(load("test", &[]).unwrap().auth.bcrypt_cost, 4);
    }

    #[test]
    fn production_refuses_to_start_without_a_secret_and_says_what_to_set() {
        let err = load("production", &[]).unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        let err = load("production", &[("JWT_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 32"), "{err}");
        let err = load("production", &[("JWT_SECRET", DEV_SECRET)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("development JWT secret"), "{err}");
    }

    #[test]
    fn production_turns_off_auto_migration_and_logs_json() {
        let s = load("production", &[("JWT_SECRET", &"k".repeat(48))]).unwrap();
        assert!(!s.database.auto_migrate);
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn conventional_variables_are_honoured_and_app_variables_win() {
        let s = load(
            "development",
            &[("DATABASE_URL", "sqlite::memory:"), ("PORT", "9000")],
        )
        .unwrap();
        assert_eq!(s.database.url, "sqlite::memory:");
        assert_eq!(s.server.port, 9000);
        let s = load(
            "development",
            &[("PORT", "9000"), ("APP__SERVER__PORT", "9100")],
        )
        .unwrap();
        assert_eq!(s.server.port, 9100);
        let s = load(
            "development",
            &[
                ("APP__DATABASE__MAX_CONNECTIONS", "3"),
                ("APP__AUTH__BCRYPT_COST", "5"),
            ],
        )
        .unwrap();
        assert_eq!((s.database.max_connections, s.auth.bcrypt_cost), (3, 5));
    }
}
