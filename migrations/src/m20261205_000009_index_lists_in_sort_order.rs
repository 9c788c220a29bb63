//! Every list's filter, sort and tie-break as one index, in that order.
//!
//! Lists order by their sort column and then by `id` (so pages never
//! overlap), but the earlier indexes stopped at the sort column: SQLite then
//! sorted every matching row in a temporary B-tree for the `id` term (and
//! for `title`, an owner's whole list for each page), and PostgreSQL added a
//! Sort node. With `id` as the last column, one index walk yields the page
//! in order and stops at its end, in either direction. The `role` and
//! `is_active` indexes gain the default order for the same reason. The test
//! `plans` in the repository crate explains every list on both backends.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

type Indexes = &'static [(&'static str, &'static [&'static str])];

/// (table, indexes replaced, indexes that replace them).
const CHANGES: [(&str, Indexes, Indexes); 4] = [
    (
        "items",
        &[
            ("ix_items_owner_id_created_at", &["owner_id", "created_at"]),
            ("ix_items_created_at", &["created_at"]),
            ("ix_items_updated_at", &["updated_at"]),
            ("ix_items_title", &["title"]),
        ],
        &[
            ("ix_items_owner_created", &["owner_id", "created_at", "id"]),
            ("ix_items_owner_updated", &["owner_id", "updated_at", "id"]),
            ("ix_items_owner_title", &["owner_id", "title", "id"]),
            ("ix_items_created", &["created_at", "id"]),
            ("ix_items_updated", &["updated_at", "id"]),
            ("ix_items_title_id", &["title", "id"]),
        ],
    ),
    (
        "posts",
        &[
            (
                "ix_posts_author_id_created_at",
                &["author_id", "created_at"],
            ),
            ("ix_posts_created_at", &["created_at"]),
            ("ix_posts_updated_at", &["updated_at"]),
            ("ix_posts_title", &["title"]),
        ],
        &[
            (
                "ix_posts_author_created",
                &["author_id", "created_at", "id"],
            ),
            (
                "ix_posts_author_updated",
                &["author_id", "updated_at", "id"],
            ),
            ("ix_posts_author_title", &["author_id", "title", "id"]),
            ("ix_posts_created", &["created_at", "id"]),
            ("ix_posts_updated", &["updated_at", "id"]),
            ("ix_posts_title_id", &["title", "id"]),
        ],
    ),
    (
        "comments",
        &[("ix_comments_post_id_created_at", &["post_id", "created_at"])],
        &[("ix_comments_post_created", &["post_id", "created_at", "id"])],
    ),
    (
        "users",
        &[
            ("ix_users_created_at", &["created_at"]),
            ("ix_users_role", &["role"]),
            ("ix_users_is_active", &["is_active"]),
        ],
        &[
            ("ix_users_created", &["created_at", "id"]),
            ("ix_users_role_created", &["role", "created_at", "id"]),
            (
                "ix_users_is_active_created",
                &["is_active", "created_at", "id"],
            ),
        ],
    ),
];

async fn replace(
    manager: &SchemaManager<'_>,
    table: &str,
    drop: Indexes,
    create: Indexes,
) -> Result<(), DbErr> {
    for (name, _) in drop {
        manager
            .drop_index(
                Index::drop()
                    .name(*name)
                    .table(Alias::new(table))
                    .to_owned(),
            )
            .await?;
    }
    for (name, columns) in create {
        let mut index = Index::create();
        index.name(*name).table(Alias::new(table));
        for column in *columns {
            index.col(Alias::new(*column));
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}

// The trait spells `&SchemaManager` with an elided lifetime; naming it `<'_>`
// here would make the impl's lifetime early-bound and no longer match.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, old, new) in CHANGES {
            replace(manager, table, old, new).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, old, new) in CHANGES.into_iter().rev() {
            replace(manager, table, new, old).await?;
        }
        Ok(())
    }
}
