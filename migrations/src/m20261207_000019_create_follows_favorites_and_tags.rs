//! What the RealWorld (Conduit) adapter and the blog's own API need of it:
//! slugs, descriptions and tags on posts, favorites, follows, public
//! profiles (bio and image), and comment numbers.
//!
//! A comment's `number` is its rank among its post's comments, never reused:
//! `posts.comments_made` counts the comments a post ever had, and the insert
//! that bumps it takes the next number in the same transaction (on
//! PostgreSQL the bump locks the post's row, so two comments cannot draw the
//! same number). RealWorld clients name comments by such integers.
//!
//! A post's tags live twice: in `posts.tags` (the list in order, read with
//! the post in the same statement) and in `post_tags` (one row per tag, what
//! the `tag` filter and the tag list are served from). Both are written in
//! the same transaction.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000001_create_users::Users;
use crate::m20261122_000006_create_posts::Posts;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            text_null(PostsSocial::Slug),
            text_null(PostsSocial::Description),
            text(PostsSocial::Tags).default("").to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Posts::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for (table, column) in [
            (
                Posts::Table.into_iden(),
                big_integer(PostsSocial::CommentsMade).default(0).to_owned(),
            ),
            (
                Comments::Table.into_iden(),
                big_integer(Comments::Number).default(0).to_owned(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).add_column(column).to_owned())
                .await?;
        }
        // Existing comments are numbered in the order they were made.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE comments SET number = (SELECT COUNT(*) FROM comments AS earlier \
                 WHERE earlier.post_id = comments.post_id \
                 AND (earlier.created_at < comments.created_at \
                 OR (earlier.created_at = comments.created_at AND earlier.id <= comments.id)))",
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE posts SET comments_made = \
                 (SELECT COALESCE(MAX(number), 0) FROM comments WHERE comments.post_id = posts.id)",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_comments_post_id_number")
                    .table(Comments::Table)
                    .col(Comments::PostId)
                    .col(Comments::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Posts written before slugs existed are named by their id, which is
        // unique and a valid slug (32 hex digits).
        manager
            .get_connection()
            .execute_unprepared("UPDATE posts SET slug = replace(CAST(id AS TEXT), '-', '')")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_posts_slug")
                    .table(Posts::Table)
                    .col(PostsSocial::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PostTags::Table)
                    .col(uuid(PostTags::PostId))
                    .col(text(PostTags::Tag))
                    .primary_key(Index::create().col(PostTags::PostId).col(PostTags::Tag))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_post_tags_post_id")
                            .from(PostTags::Table, PostTags::PostId)
                            .to(Posts::Table, Posts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The `tag` filter: the posts of one tag without touching others.
        manager
            .create_index(
                Index::create()
                    .name("ix_post_tags_tag_post_id")
                    .table(PostTags::Table)
                    .col(PostTags::Tag)
                    .col(PostTags::PostId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Favorites::Table)
                    .col(uuid(Favorites::UserId))
                    .col(uuid(Favorites::PostId))
                    .col(timestamp_with_time_zone(Favorites::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Favorites::UserId)
                            .col(Favorites::PostId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_favorites_user_id")
                            .from(Favorites::Table, Favorites::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_favorites_post_id")
                            .from(Favorites::Table, Favorites::PostId)
                            .to(Posts::Table, Posts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A post's count, and the cascade when it is deleted.
        manager
            .create_index(
                Index::create()
                    .name("ix_favorites_post_id")
                    .table(Favorites::Table)
                    .col(Favorites::PostId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Follows::Table)
                    .col(uuid(Follows::FollowerId))
                    .col(uuid(Follows::FolloweeId))
                    .col(timestamp_with_time_zone(Follows::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Follows::FollowerId)
                            .col(Follows::FolloweeId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_follows_follower_id")
                            .from(Follows::Table, Follows::FollowerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_follows_followee_id")
                            .from(Follows::Table, Follows::FolloweeId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The cascade when a followed account is deleted.
        manager
            .create_index(
                Index::create()
                    .name("ix_follows_followee_id")
                    .table(Follows::Table)
                    .col(Follows::FolloweeId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Profiles::Table)
                    .col(uuid(Profiles::UserId).primary_key())
                    .col(text_null(Profiles::Bio))
                    .col(text_null(Profiles::Image))
                    .col(timestamp_with_time_zone(Profiles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_profiles_user_id")
                            .from(Profiles::Table, Profiles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Profiles::Table.into_iden(),
            Follows::Table.into_iden(),
            Favorites::Table.into_iden(),
            PostTags::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ux_posts_slug")
                    .table(Posts::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_comments_post_id_number")
                    .table(Comments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Comments::Table)
                    .drop_column(Comments::Number)
                    .to_owned(),
            )
            .await?;
        for column in [
            PostsSocial::CommentsMade,
            PostsSocial::Tags,
            PostsSocial::Description,
            PostsSocial::Slug,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Posts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum PostsSocial {
    Slug,
    Description,
    Tags,
    CommentsMade,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    PostId,
    Number,
}

#[derive(DeriveIden)]
enum PostTags {
    Table,
    PostId,
    Tag,
}

#[derive(DeriveIden)]
enum Favorites {
    Table,
    UserId,
    PostId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Follows {
    Table,
    FollowerId,
    FolloweeId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    UserId,
    Bio,
    Image,
    UpdatedAt,
}
