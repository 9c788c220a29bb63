//! OpenID Connect sign-in: identities at external providers linked to
//! accounts, the pending logins that carry `state`, `nonce` and the PKCE
//! verifier across the provider's redirect, and the one-time codes a browser
//! trades for tokens. Accounts created through a provider have no password:
//! `users.password_hash` holds a marker no hash equals (ADR 0016), so the
//! `users` table is unchanged.

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
                    .table(UserIdentities::Table)
                    .col(pk_uuid(UserIdentities::Id))
                    .col(uuid(UserIdentities::UserId))
                    .col(string(UserIdentities::Provider))
                    .col(string(UserIdentities::Issuer))
                    .col(string(UserIdentities::Subject))
                    .col(string_null(UserIdentities::Email))
                    .col(timestamp_with_time_zone(UserIdentities::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_identities_user_id")
                            .from(UserIdentities::Table, UserIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Sign-in looks an identity up by (issuer, subject), never by
        // address; one identity belongs to one account at most.
        manager
            .create_index(
                Index::create()
                    .name("ux_user_identities_issuer_subject")
                    .table(UserIdentities::Table)
                    .col(UserIdentities::Issuer)
                    .col(UserIdentities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_identities_user_created")
                    .table(UserIdentities::Table)
                    .col(UserIdentities::UserId)
                    .col(UserIdentities::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OidcPendingLogins::Table)
                    .col(pk_uuid(OidcPendingLogins::Id))
                    // SHA-256 of the state and of the browser-binding cookie:
                    // a leaked table starts no callback.
                    .col(string(OidcPendingLogins::StateHash))
                    .col(string(OidcPendingLogins::BindingHash))
                    .col(string(OidcPendingLogins::Provider))
                    .col(string(OidcPendingLogins::Nonce))
                    .col(string(OidcPendingLogins::PkceVerifier))
                    .col(string(OidcPendingLogins::Mode))
                    .col(uuid_null(OidcPendingLogins::LinkUserId))
                    .col(timestamp_with_time_zone(OidcPendingLogins::CreatedAt))
                    .col(timestamp_with_time_zone(OidcPendingLogins::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oidc_pending_logins_link_user_id")
                            .from(OidcPendingLogins::Table, OidcPendingLogins::LinkUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_oidc_pending_logins_state_hash")
                    .table(OidcPendingLogins::Table)
                    .col(OidcPendingLogins::StateHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_oidc_pending_logins_expires_at")
                    .table(OidcPendingLogins::Table)
                    .col(OidcPendingLogins::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OidcLoginCodes::Table)
                    .col(pk_uuid(OidcLoginCodes::Id))
                    .col(string(OidcLoginCodes::CodeHash))
                    .col(uuid(OidcLoginCodes::UserId))
                    .col(timestamp_with_time_zone(OidcLoginCodes::CreatedAt))
                    .col(timestamp_with_time_zone(OidcLoginCodes::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oidc_login_codes_user_id")
                            .from(OidcLoginCodes::Table, OidcLoginCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_oidc_login_codes_code_hash")
                    .table(OidcLoginCodes::Table)
                    .col(OidcLoginCodes::CodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_oidc_login_codes_expires_at")
                    .table(OidcLoginCodes::Table)
                    .col(OidcLoginCodes::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OidcLoginCodes::Table.into_iden(),
            OidcPendingLogins::Table.into_iden(),
            UserIdentities::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        // Accounts that were created through a provider keep the marker
        // and can regain a password through a reset.
        Ok(())
    }
}

#[derive(DeriveIden)]
enum UserIdentities {
    Table,
    Id,
    UserId,
    Provider,
    Issuer,
    Subject,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OidcPendingLogins {
    Table,
    Id,
    StateHash,
    BindingHash,
    Provider,
    Nonce,
    PkceVerifier,
    Mode,
    LinkUserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OidcLoginCodes {
    Table,
    Id,
    CodeHash,
    UserId,
    CreatedAt,
    ExpiresAt,
}
