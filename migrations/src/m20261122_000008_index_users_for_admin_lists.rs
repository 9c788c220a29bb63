//! Indexes behind the admin user list's `role` and `is_active` filters.
//! `created_at` is indexed since the table was created; `email` and
//! `username_lower` are covered by their unique indexes.

use sea_orm_migration::prelude::*;

use crate::m20261121_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const INDEXES: [(&str, Users); 2] = [
    ("ix_users_role", Users::Role),
    ("ix_users_is_active", Users::IsActive),
];

// The trait spells `&SchemaManager` with an elided lifetime; naming it `<'_>`
// here would make the impl's lifetime early-bound and no longer match.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Users::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES.into_iter().rev() {
            manager
                .drop_index(Index::drop().name(name).table(Users::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
