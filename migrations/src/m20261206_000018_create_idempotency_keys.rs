//! Idempotency keys (ADR 0019): one row per (principal, key) holding the
//! fingerprint of the request first made under it, the lease of the attempt
//! running it, and, once that attempt's effect committed (in the same
//! transaction), the answer to replay.

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
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::PrincipalId))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    // SHA-256 of method, path and payload, in hex.
                    .col(string(IdempotencyKeys::Fingerprint))
                    .col(uuid(IdempotencyKeys::Attempt))
                    .col(timestamp_with_time_zone(IdempotencyKeys::LockedUntil))
                    // Null while the first attempt runs.
                    .col(integer_null(IdempotencyKeys::ResponseStatus))
                    .col(text_null(IdempotencyKeys::ResponseHeaders))
                    .col(blob_null(IdempotencyKeys::ResponseBody))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .col(timestamp_with_time_zone(IdempotencyKeys::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::PrincipalId)
                            .col(IdempotencyKeys::Key),
                    )
                    // A deleted account's keys go with it.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_principal_id")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::PrincipalId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    PrincipalId,
    Key,
    Fingerprint,
    Attempt,
    LockedUntil,
    ResponseStatus,
    ResponseHeaders,
    ResponseBody,
    CreatedAt,
    ExpiresAt,
}
