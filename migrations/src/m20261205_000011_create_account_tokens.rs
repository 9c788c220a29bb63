//! E-mail verification and password reset: `users.email_verified_at`, and
//! the single-use tokens mailed to prove control of an address.

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
        // Existing accounts start unverified: nothing ever proved their
        // addresses, and `auth.require_verified_email` is off by default.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(
                        UsersVerified::EmailVerifiedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountTokens::Table)
                    .col(pk_uuid(AccountTokens::Id))
                    .col(uuid(AccountTokens::UserId))
                    .col(string(AccountTokens::Purpose))
                    // SHA-256 of the mailed secret: a leaked table cannot be
                    // replayed against the API.
                    .col(string(AccountTokens::TokenHash))
                    // The address the token was mailed to: verification
                    // proves that address, not whatever the account has now.
                    .col(string(AccountTokens::Email))
                    .col(timestamp_with_time_zone(AccountTokens::CreatedAt))
                    .col(timestamp_with_time_zone(AccountTokens::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_account_tokens_user_id")
                            .from(AccountTokens::Table, AccountTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_account_tokens_token_hash")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Superseding deletes by (user, purpose); the purge by expiry.
        manager
            .create_index(
                Index::create()
                    .name("ix_account_tokens_user_purpose")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::UserId)
                    .col(AccountTokens::Purpose)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_account_tokens_expires_at")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(UsersVerified::EmailVerifiedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum UsersVerified {
    EmailVerifiedAt,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    Email,
    CreatedAt,
    ExpiresAt,
}
