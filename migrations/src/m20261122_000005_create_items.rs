//! Owner-scoped items.

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
                    .table(Items::Table)
                    .col(pk_uuid(Items::Id))
                    .col(uuid(Items::OwnerId))
                    .col(string_len(Items::Title, 200))
                    .col(text_null(Items::Description))
                    // The compare-and-set counter behind `ETag`/`If-Match`.
                    .col(big_integer(Items::Version).default(1))
                    .col(timestamp_with_time_zone(Items::CreatedAt))
                    .col(timestamp_with_time_zone(Items::UpdatedAt))
                    // Deleting an account must take its items with it.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_items_owner_id")
                            .from(Items::Table, Items::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One index per filter/sort the list offers. The owner's list is the
        // common case, so owner plus the default sort is a composite (it also
        // serves the foreign key's cascade).
        for (name, columns) in [
            (
                "ix_items_owner_id_created_at",
                &[Items::OwnerId, Items::CreatedAt][..],
            ),
            ("ix_items_created_at", &[Items::CreatedAt][..]),
            ("ix_items_updated_at", &[Items::UpdatedAt][..]),
            ("ix_items_title", &[Items::Title][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Items::Table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Items::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Items {
    Table,
    Id,
    OwnerId,
    Title,
    Description,
    Version,
    CreatedAt,
    UpdatedAt,
}
