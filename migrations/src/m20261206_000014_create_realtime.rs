//! What the WebSocket needs (docs/realtime.md):
//!
//! - `event_sequences`: each user's last event number. Every change that a
//!   user's socket reports (a notification, a job of theirs moving) takes the
//!   next number in its own transaction, so numbers commit in order (the row
//!   lock serialises a user's writers) and without holes a client could
//!   mistake for loss.
//! - `notifications.seq` and `jobs.event_seq`: the number of the row's last
//!   event, so a client that reconnects is sent what it missed from the
//!   tables themselves. Rows older than this migration keep 0 and are not
//!   replayed. The indexes serve "a user's rows after n, in order".
//! - `ws_tickets`: single-use socket tickets, stored only as a hash, each
//!   naming the session and the access token expiry it was issued under.

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
                    .table(EventSequences::Table)
                    .col(pk_uuid(EventSequences::UserId))
                    .col(big_integer(EventSequences::LastSeq))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_sequences_user")
                            .from(EventSequences::Table, EventSequences::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WsTickets::Table)
                    .col(string_len(WsTickets::TokenHash, 64).primary_key())
                    .col(uuid(WsTickets::UserId))
                    .col(uuid(WsTickets::SessionId))
                    .col(timestamp_with_time_zone(WsTickets::AccessExpiresAt))
                    .col(timestamp_with_time_zone(WsTickets::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ws_tickets_user")
                            .from(WsTickets::Table, WsTickets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ws_tickets_expires_at")
                    .table(WsTickets::Table)
                    .col(WsTickets::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column(big_integer(Notifications::Seq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(big_integer(Jobs::EventSeq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_user_seq")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_jobs_created_by_event_seq")
                    .table(Jobs::Table)
                    .col(Jobs::CreatedBy)
                    .col(Jobs::EventSeq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in [
            (Jobs::Table.into_iden(), "ix_jobs_created_by_event_seq"),
            (
                Notifications::Table.into_iden(),
                "ix_notifications_user_seq",
            ),
        ] {
            manager
                .drop_index(Index::drop().name(index).table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::EventSeq)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(Notifications::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(WsTickets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EventSequences::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum EventSequences {
    Table,
    UserId,
    LastSeq,
}

#[derive(DeriveIden, Clone, Copy)]
enum WsTickets {
    Table,
    TokenHash,
    UserId,
    SessionId,
    AccessExpiresAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    UserId,
    Seq,
}

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    CreatedBy,
    EventSeq,
}
