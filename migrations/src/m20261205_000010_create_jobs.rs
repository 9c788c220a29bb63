//! The durable job queue: one row per background job, claimed by workers
//! under a lease.
//!
//! The indexes are the queue's queries and nothing more, because a queue
//! rewrites its rows several times each (claim, heartbeats, finish) and
//! every index costs a write on each status change:
//!
//! - `ix_jobs_claim (status, run_at, id)`: the claim walks the due queued
//!   jobs in exactly its `ORDER BY run_at, id` and stops at its limit, the
//!   kind checked per row (a worker usually serves every kind; a `kind`
//!   column before `run_at` would split the walk into one range per kind and
//!   force a sort). The oldest due job (a gauge) is its first entry. Lease
//!   reaping (`status = 'running' AND lease_expires_at < now`) uses its
//!   `status` prefix: running jobs are bounded by the workers' concurrency,
//!   so no index of their own is worth its writes.
//! - `ix_jobs_created_by (created_by, created_at, id)`: a user's jobs newest
//!   first, the page read in index order; it also serves the foreign key's
//!   cascade when an account is deleted.
//! - `ix_jobs_created (created_at, id)`: every job newest first (admins). The
//!   admin filter by kind walks it and stops once the page is full (the
//!   table stays small because finished jobs are purged; kinds are few).
//! - `ix_jobs_status_created (status, created_at, id)`: the admin filter by
//!   status (the dead jobs, the running ones), newest first. Without it the
//!   planners take the claim index for the status and sort every job of
//!   that status, most of the table for `succeeded`.
//! - `ix_jobs_finished (finished_at, id)`: the purge takes the oldest
//!   finished jobs first. Only terminal jobs have a `finished_at`, so the
//!   range holds nothing else.
//! - `ux_jobs_unique_key`: at most one job per key (NULLs never collide), the
//!   target of the enqueue's `ON CONFLICT (unique_key) DO NOTHING`.
//!
//! Counting by (kind, status) for the metrics reads the whole (purged) table
//! a few times a minute and gets no index.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

// The trait spells `&SchemaManager` with an elided lifetime; naming it `<'_>`
// here would make the impl's lifetime early-bound and no longer match.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(pk_uuid(Jobs::Id))
                    .col(string_len(Jobs::Kind, 64))
                    // JSONB on PostgreSQL, text on SQLite; sea-orm reads both
                    // as a JSON value.
                    .col(json_binary(Jobs::Payload))
                    .col(string_len(Jobs::Status, 16))
                    .col(integer(Jobs::Attempts).default(0))
                    .col(integer(Jobs::MaxAttempts))
                    .col(timestamp_with_time_zone(Jobs::RunAt))
                    // Worker ids and keys are chosen in code and unbounded in the domain:
                    // `text`, so PostgreSQL never refuses a long one.
                    .col(text_null(Jobs::LeaseOwner))
                    .col(timestamp_with_time_zone_null(Jobs::LeaseExpiresAt))
                    .col(small_integer(Jobs::Progress).default(0))
                    .col(text_null(Jobs::ProgressMessage))
                    .col(json_binary_null(Jobs::Result))
                    .col(text_null(Jobs::LastError))
                    .col(boolean(Jobs::CancelRequested).default(false))
                    .col(uuid_null(Jobs::CreatedBy))
                    .col(text_null(Jobs::UniqueKey))
                    .col(timestamp_with_time_zone(Jobs::CreatedAt))
                    .col(timestamp_with_time_zone_null(Jobs::StartedAt))
                    .col(timestamp_with_time_zone_null(Jobs::FinishedAt))
                    .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                    // A user's jobs (and their exports) go with the account.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_jobs_created_by")
                            .from(Jobs::Table, Jobs::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_jobs_unique_key")
                    .table(Jobs::Table)
                    .col(Jobs::UniqueKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("ix_jobs_claim", &[Jobs::Status, Jobs::RunAt, Jobs::Id][..]),
            (
                "ix_jobs_created_by",
                &[Jobs::CreatedBy, Jobs::CreatedAt, Jobs::Id][..],
            ),
            ("ix_jobs_created", &[Jobs::CreatedAt, Jobs::Id][..]),
            (
                "ix_jobs_status_created",
                &[Jobs::Status, Jobs::CreatedAt, Jobs::Id][..],
            ),
            ("ix_jobs_finished", &[Jobs::FinishedAt, Jobs::Id][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Jobs::Table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    Status,
    Attempts,
    MaxAttempts,
    RunAt,
    LeaseOwner,
    LeaseExpiresAt,
    Progress,
    ProgressMessage,
    Result,
    LastError,
    CancelRequested,
    CreatedBy,
    UniqueKey,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}
