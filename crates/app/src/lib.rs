//! The Strata binary's library half: configuration, wiring, CLI and
//! telemetry. Nothing else lives here; the end-to-end tests use
//! [`Application`] exactly as `main` does.

pub mod cli;
pub mod conduit;
pub mod config;
mod config_accounts;
mod config_jobs;
mod config_oidc;
mod config_realtime;
mod events;
pub mod graphql;
mod healthcheck;
pub mod operations;
pub mod startup;
pub mod telemetry;
pub mod workers;

pub use config::Settings;
pub use startup::Application;
