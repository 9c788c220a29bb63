//! The catalog (categories, products), orders with their items, and the
//! catalog version that every catalog write bumps in its transaction.
//!
//! Money is `BIGINT` minor units beside a three-letter currency; stock and
//! prices carry `CHECK (… >= 0)`, so no write, however it races, can leave a
//! negative stock behind. Every list has an index per filter and sort with
//! the `id` tie-break (see the repository's `plans` test).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261121_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row, updated by every catalog write: its value changes exactly
        // when the catalog does (HTTP caches key on it).
        manager
            .create_table(
                Table::create()
                    .table(CatalogVersion::Table)
                    .col(integer(CatalogVersion::Id).primary_key())
                    .col(big_integer(CatalogVersion::Version).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(CatalogVersion::Table)
                    .columns([CatalogVersion::Id, CatalogVersion::Version])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(pk_uuid(Categories::Id))
                    .col(string_len(Categories::Name, 200))
                    .col(string_len(Categories::Slug, 100))
                    .col(uuid_null(Categories::ParentId))
                    .col(big_integer(Categories::Version).default(1))
                    .col(timestamp_with_time_zone(Categories::CreatedAt))
                    .col(timestamp_with_time_zone(Categories::UpdatedAt))
                    // A parent with sub-categories cannot be deleted.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_categories_parent_id")
                            .from(Categories::Table, Categories::ParentId)
                            .to(Categories::Table, Categories::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_categories_slug",
            Categories::Table,
            &[Categories::Slug],
            true,
        )
        .await?;
        index(
            manager,
            "ix_categories_name",
            Categories::Table,
            &[Categories::Name, Categories::Id],
            false,
        )
        .await?;
        index(
            manager,
            "ix_categories_parent_id",
            Categories::Table,
            &[Categories::ParentId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(pk_uuid(Products::Id))
                    .col(string_len(Products::Name, 200))
                    .col(string_len(Products::Slug, 100))
                    .col(text_null(Products::Description))
                    .col(big_integer(Products::Price).check(Expr::col(Products::Price).gte(0)))
                    .col(string_len(Products::Currency, 3))
                    .col(
                        big_integer(Products::StockQuantity)
                            .check(Expr::col(Products::StockQuantity).gte(0)),
                    )
                    .col(uuid(Products::CategoryId))
                    .col(boolean(Products::IsActive))
                    .col(big_integer(Products::Version).default(1))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_products_category_id")
                            .from(Products::Table, Products::CategoryId)
                            .to(Categories::Table, Categories::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_products_slug",
            Products::Table,
            &[Products::Slug],
            true,
        )
        .await?;
        // Each list reads one activity state (public: active), optionally one
        // category, in one of three orders.
        for (name, sort) in [
            ("created", Products::CreatedAt),
            ("price", Products::Price),
            ("name", Products::Name),
        ] {
            let active = format!("ix_products_active_{name}");
            let columns = [Products::IsActive, sort, Products::Id];
            index(manager, &active, Products::Table, &columns, false).await?;
            let category = format!("ix_products_category_{name}");
            let columns = [Products::CategoryId, Products::IsActive, sort, Products::Id];
            index(manager, &category, Products::Table, &columns, false).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(pk_uuid(Orders::Id))
                    .col(uuid(Orders::UserId))
                    .col(string_len(Orders::Status, 16))
                    .col(string_len(Orders::Currency, 3))
                    .col(big_integer(Orders::Total).check(Expr::col(Orders::Total).gte(0)))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    // An account deleted takes its orders along, as it does
                    // its items and posts.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_user_id")
                            .from(Orders::Table, Orders::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("ix_orders_created", &[Orders::CreatedAt, Orders::Id][..]),
            (
                "ix_orders_user_created",
                &[Orders::UserId, Orders::CreatedAt, Orders::Id][..],
            ),
            (
                "ix_orders_status_created",
                &[Orders::Status, Orders::CreatedAt, Orders::Id][..],
            ),
            (
                "ix_orders_user_status_created",
                &[
                    Orders::UserId,
                    Orders::Status,
                    Orders::CreatedAt,
                    Orders::Id,
                ][..],
            ),
        ] {
            index(manager, name, Orders::Table, columns, false).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .col(uuid(OrderItems::OrderId))
                    .col(uuid(OrderItems::ProductId))
                    .col(string_len(OrderItems::ProductName, 200))
                    .col(big_integer(OrderItems::UnitPrice))
                    .col(
                        big_integer(OrderItems::Quantity)
                            .check(Expr::col(OrderItems::Quantity).gt(0)),
                    )
                    .col(big_integer(OrderItems::LineTotal))
                    .primary_key(
                        Index::create()
                            .col(OrderItems::OrderId)
                            .col(OrderItems::ProductId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_order_id")
                            .from(OrderItems::Table, OrderItems::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // An ordered product cannot be deleted (deactivate it).
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_product_id")
                            .from(OrderItems::Table, OrderItems::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_order_items_product_id",
            OrderItems::Table,
            &[OrderItems::ProductId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OrderItems::Table.into_iden(),
            Orders::Table.into_iden(),
            Products::Table.into_iden(),
            Categories::Table.into_iden(),
            CatalogVersion::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    columns: &[C],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[derive(DeriveIden, Clone, Copy)]
enum CatalogVersion {
    Table,
    Id,
    Version,
}

#[derive(DeriveIden, Clone, Copy)]
enum Categories {
    Table,
    Id,
    Name,
    Slug,
    ParentId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Products {
    Table,
    Id,
    Name,
    Slug,
    Description,
    Price,
    Currency,
    StockQuantity,
    CategoryId,
    IsActive,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    UserId,
    Status,
    Currency,
    Total,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderItems {
    Table,
    OrderId,
    ProductId,
    ProductName,
    UnitPrice,
    Quantity,
    LineTotal,
}
