//! `notifications`: what happened to a user's things, kept until read.
//!
//! Both indexes serve the user's list newest first, read in index order and
//! stopped at the page's end:
//!
//! - `ix_notifications_user (user_id, created_at, id)`: every notification.
//! - `ix_notifications_user_unread (user_id, read_at, created_at, id)`: the
//!   unread ones (`read_at IS NULL` is an equality on the index's second
//!   column on both backends); also what "read all" updates.
//!
//! The foreign key takes a user's notifications along with the account.

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
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::UserId))
                    .col(string_len(Notifications::Kind, 32))
                    .col(json_binary(Notifications::Data))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_user")
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "ix_notifications_user",
                &[
                    Notifications::UserId,
                    Notifications::CreatedAt,
                    Notifications::Id,
                ][..],
            ),
            (
                "ix_notifications_user_unread",
                &[
                    Notifications::UserId,
                    Notifications::ReadAt,
                    Notifications::CreatedAt,
                    Notifications::Id,
                ][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Notifications::Table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    Data,
    ReadAt,
    CreatedAt,
}
