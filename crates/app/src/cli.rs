//! The `strata` command line.

use std::io::Write as _;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use strata_domain::users::Role;
use strata_migration::{Migrator, MigratorTrait};
use strata_repository::DatabaseConnection;
use strata_service::{AuthService, Registration, ServiceError};

use crate::config::Settings;
use crate::startup::{self, Application};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "Strata REST backend")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default), with `jobs.workers` job workers in-process.
    Serve {
        /// Run no job workers here (run `strata worker` processes instead).
        #[arg(long)]
        no_workers: bool,
    },
    /// Run job workers and the scheduler only, without serving HTTP. Any
    /// number may run against one PostgreSQL database.
    Worker {
        /// Jobs run at once (default: `jobs.workers`, at least 1).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Serve `/health` and `/metrics` on this `host:port` (default:
        /// `jobs.metrics_addr`; none when that is empty).
        #[arg(long)]
        metrics_addr: Option<String>,
    },
    /// Apply, revert or inspect database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Create an administrator. The password is read from
    /// STRATA_ADMIN_PASSWORD, or prompted for.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        full_name: Option<String>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print the GraphQL schema (SDL).
    GraphqlSchema,
    /// Write an online, consistent copy of the SQLite database to a new
    /// file (`VACUUM INTO`); PostgreSQL is backed up with its own tools.
    Backup {
        /// The copy to create; an existing file is never overwritten.
        to: std::path::PathBuf,
    },
    /// Exit 0 when the server on this machine answers 200 on `/health`
    /// (`--ready`: `/health/ready`) within 3 s: a container HEALTHCHECK that
    /// needs no shell or curl.
    Healthcheck {
        #[arg(long)]
        ready: bool,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert migrations (the last one by default).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table and apply all migrations again. Destroys all data.
    Fresh,
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever failed, with context; `main` prints it and exits non-zero.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::startup::install_crypto_provider();
    let command = cli.command.unwrap_or(Command::Serve { no_workers: false });
    if let Command::Openapi = command {
        let document = openapi_document()
            .to_pretty_json()
            .context("Failed to serialize the OpenAPI document")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{document}")?;
        return Ok(());
    }
    if let Command::GraphqlSchema = command {
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "{}", strata_graphql::sdl())?;
        return Ok(());
    }
    let settings = Settings::load()?;
    match command {
        Command::Serve { no_workers } => {
            let telemetry = telemetry::init_with_tracing(&settings.log, &settings.telemetry)?;
            let workers = if no_workers { 0 } else { settings.jobs.workers };
            let served = async {
                Application::build_with_workers(settings, workers)
                    .await?
                    .run_until_stopped()
                    .await
                    .map_err(Into::into)
            };
            let result: anyhow::Result<()> = served.await;
            telemetry.shutdown();
            result?;
        }
        Command::Worker {
            concurrency,
            metrics_addr,
        } => {
            let telemetry = telemetry::init_with_tracing(&settings.log, &settings.telemetry)?;
            let result = work(settings, concurrency, metrics_addr).await;
            telemetry.shutdown();
            result?;
        }
        Command::Migrate { action } => {
            telemetry::init(&settings.log);
            migrate(settings, action).await?;
        }
        Command::CreateAdmin {
            email,
            username,
            full_name,
        } => {
            telemetry::init(&settings.log);
            create_admin(settings, &email, &username, full_name.as_deref()).await?;
        }
        Command::Backup { to } => {
            telemetry::init(&settings.log);
            let db = strata_repository::connect(&settings.database.url, 1)
                .await
                .context("Failed to connect to the database")?;
            strata_repository::backup(&db, &to).await?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "backed up to {}", to.display())?;
        }
        Command::Healthcheck { ready } => crate::healthcheck::run(&settings, ready).await?,
        Command::Openapi | Command::GraphqlSchema => {}
    }
    Ok(())
}

/// `strata worker`: workers and the scheduler until SIGTERM/SIGINT, then a
/// graceful stop.
async fn work(
    settings: Settings,
    concurrency: Option<usize>,
    metrics_addr: Option<String>,
) -> anyhow::Result<()> {
    let db = startup::database(&settings).await?;
    let services = startup::services(&settings, db).await?;
    let concurrency = concurrency.unwrap_or(settings.jobs.workers).max(1);
    let operations = match metrics_addr.or_else(|| settings.jobs.metrics_addr.clone()) {
        Some(addr) => Some(crate::operations::Operations::start(
            &settings, &services, &addr,
        )?),
        None => None,
    };
    let workers = crate::workers::Workers::start(&settings, &services.job_deps, concurrency)?;
    tracing::info!(concurrency, "Strata worker is running");
    startup::shutdown_signal().await;
    tracing::info!("shutdown signal received; finishing running jobs");
    workers.shutdown().await;
    if let Some(operations) = operations {
        operations.stop().await;
    }
    Ok(())
}

/// The document `strata openapi` prints and the server serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    strata_http::openapi()
}

async fn migrate(mut settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    settings.database.auto_migrate = false;
    // One connection, not a pool. On SQLite, sea-orm's `fresh` turns foreign
    // keys off with `PRAGMA foreign_keys = OFF` before dropping every table,
    // and that pragma holds only on the connection it ran on. A pool spreads
    // consecutive statements over its connections, so the DROP TABLEs that
    // follow can run where foreign keys are on (`strata_repository::connect`
    // opens every connection so). There DROP TABLE first deletes the rows,
    // with their foreign key actions, and the tables go in creation order,
    // parents first: once `users` is gone, dropping `posts` compiles the
    // cascade into `comments`, whose own foreign key names `users`, and fails
    // with "no such table: main.users", leaving a half-dropped schema that
    // the migration table no longer describes. Whether it failed depended on
    // which connection each statement got (about every other run). A
    // migration run is sequential, so one connection costs nothing, and any
    // per-connection setting a step makes holds for the rest of the run.
    //
    // Implementing `fresh` as "revert every applied migration, then apply
    // all" (sea-orm's `refresh`) would avoid the pragma, but it is a
    // different command: it drops only what the migration table says is
    // there, so it cannot rebuild a schema that has drifted from that record,
    // which is when `fresh` is needed.
    settings.database.max_connections = 1;
    let db = startup::database(&settings).await?;
    let mut out = std::io::stdout().lock();
    match action {
        MigrateAction::Up => {
            Migrator::up(&db, None)
                .await
                .context("Failed to apply migrations")?;
            writeln!(out, "migrations applied")?;
        }
        MigrateAction::Down { steps } => {
            // Fewer than `steps` may be applied; report what was reverted.
            let before = applied(&db).await?;
            Migrator::down(&db, Some(steps))
                .await
                .context("Failed to revert migrations")?;
            let reverted = before.saturating_sub(applied(&db).await?);
            writeln!(out, "reverted {reverted} migration(s)")?;
        }
        MigrateAction::Fresh => {
            Migrator::fresh(&db)
                .await
                .context("Failed to recreate the schema")?;
            writeln!(out, "schema recreated")?;
        }
        MigrateAction::Status => {
            for migration in Migrator::get_migration_with_status(&db).await? {
                writeln!(
                    out,
                    "{:<10} {}",
                    format!("{:?}", migration.status()),
                    migration.name()
                )?;
            }
        }
    }
    Ok(())
}

/// How many migrations are applied.
async fn applied(db: &DatabaseConnection) -> anyhow::Result<usize> {
    Ok(Migrator::get_applied_migrations(db)
        .await
        .context("Failed to read the applied migrations")?
        .len())
}

async fn create_admin(
    settings: Settings,
    email: &str,
    username: &str,
    full_name: Option<&str>,
) -> anyhow::Result<()> {
    let password = match std::env::var("STRATA_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let first =
                rpassword::prompt_password("Password: ").context("Failed to read the password")?;
            let again = rpassword::prompt_password("Repeat password: ")
                .context("Failed to read the password")?;
            if first != again {
                bail!("the passwords do not match");
            }
            first
        }
    };
    let registration =
        Registration::parse(email, username, &password, full_name).map_err(|errors| {
            let reasons: Vec<String> = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            anyhow::anyhow!("invalid administrator: {}", reasons.join("; "))
        })?;
    let db = startup::database(&settings).await?;
    let services = startup::services(&settings, db).await?;
    let user = match services
        .auth
        .create_account(registration, Role::Admin)
        .await
    {
        Ok(user) => user,
        Err(ServiceError::Taken(field)) => bail!("that {field:?} is already registered"),
        Err(err) => return Err(err).context("Failed to create the administrator"),
    };
    writeln!(
        std::io::stdout().lock(),
        "created administrator {} ({})",
        user.username.as_str(),
        user.id
    )?;
    Ok(())
}
