//! Revoked sessions, remembered until their last access token has expired.

use sea_orm_migration::{prelude::*, schema::*};

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
                    .table(Revocations::Table)
                    // Deliberately no foreign keys: a revocation must outlive
                    // the deleted session or user it is about, or a deleted
                    // user's still-unexpired access tokens would work again
                    // after a restart.
                    .col(pk_uuid(Revocations::SessionId))
                    .col(uuid(Revocations::UserId))
                    .col(timestamp_with_time_zone(Revocations::RevokedAt))
                    .col(timestamp_with_time_zone(Revocations::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_revocations_revoked_at")
                    .table(Revocations::Table)
                    .col(Revocations::RevokedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_revocations_expires_at")
                    .table(Revocations::Table)
                    .col(Revocations::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Revocations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Revocations {
    Table,
    SessionId,
    UserId,
    RevokedAt,
    ExpiresAt,
}
