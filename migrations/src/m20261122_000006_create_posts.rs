//! Blog posts.

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
                    .table(Posts::Table)
                    .col(pk_uuid(Posts::Id))
                    .col(uuid(Posts::AuthorId))
                    .col(string_len(Posts::Title, 200))
                    .col(text(Posts::Body))
                    .col(timestamp_with_time_zone(Posts::CreatedAt))
                    .col(timestamp_with_time_zone(Posts::UpdatedAt))
                    // Deleting an account must take its posts (and, through
                    // the comments' own cascade, their comments) with it.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_posts_author_id")
                            .from(Posts::Table, Posts::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One index per filter/sort the list offers; the author filter plus
        // the default sort is a composite (it also serves the cascade).
        for (name, columns) in [
            (
                "ix_posts_author_id_created_at",
                &[Posts::AuthorId, Posts::CreatedAt][..],
            ),
            ("ix_posts_created_at", &[Posts::CreatedAt][..]),
            ("ix_posts_updated_at", &[Posts::UpdatedAt][..]),
            ("ix_posts_title", &[Posts::Title][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Posts::Table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Posts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Posts {
    Table,
    Id,
    AuthorId,
    Title,
    Body,
    CreatedAt,
    UpdatedAt,
}
