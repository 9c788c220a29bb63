//! The adapters against real databases: a fresh SQLite file per test and,
//! when `TEST_POSTGRES_URL` is set, a fresh PostgreSQL database per test too.
//! One test binary (rather than one per file) keeps link time down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod auth;
mod catalog;
mod common;
mod db;
mod favorites;
mod health;
mod idempotency;
mod items;
mod jobs;
mod jobs_lease;
mod jobs_reads;
mod jobs_wake;
mod notifications;
mod oidc;
mod orders;
mod plans;
mod posts;
mod profiles;
mod statements;
mod text;
mod users;
mod users_admin;
