//! Comments on blog posts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000001_create_users::Users;
use crate::m20261122_000006_create_posts::Posts;

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
                    .table(Comments::Table)
                    .col(pk_uuid(Comments::Id))
                    .col(uuid(Comments::PostId))
                    .col(uuid(Comments::AuthorId))
                    .col(text(Comments::Body))
                    .col(timestamp_with_time_zone(Comments::CreatedAt))
                    // A comment goes with its post, and with its author's
                    // account: both paths cascade.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_post_id")
                            .from(Comments::Table, Comments::PostId)
                            .to(Posts::Table, Posts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_author_id")
                            .from(Comments::Table, Comments::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A post's comments, oldest first (and its comment count).
        manager
            .create_index(
                Index::create()
                    .name("ix_comments_post_id_created_at")
                    .table(Comments::Table)
                    .col(Comments::PostId)
                    .col(Comments::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // Without it, deleting an account scans every comment.
        manager
            .create_index(
                Index::create()
                    .name("ix_comments_author_id")
                    .table(Comments::Table)
                    .col(Comments::AuthorId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Comments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    PostId,
    AuthorId,
    Body,
    CreatedAt,
}
