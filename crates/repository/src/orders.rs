//! Orders, stored in `orders` and `order_items`; placing one takes its
//! units from `products` in the same transaction. The statistics are in
//! `orders_stats.rs`.
//!
//! Stock is reserved by one conditional update per line:
//! `UPDATE products SET stock_quantity = stock_quantity - q … WHERE id = ?
//! AND is_active AND stock_quantity >= q RETURNING name, price, currency`.
//! On PostgreSQL a concurrent order for the same product waits on the row
//! lock and re-checks the condition against the committed stock, so two
//! orders can never both take the last unit; on SQLite writers are one at a
//! time anyway. Lines are visited in product-id order and the catalog
//! version row is updated last, so every transaction takes its locks in one
//! global order and none can deadlock.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use strata_domain::RepoError;
use strata_domain::catalog::{Currency, Price};
use strata_domain::idempotency::Completion;
use strata_domain::orders::{
    NewOrder, Order, OrderFilter, OrderItem, OrderRepository, OrderStats, OrderStatus,
    PlaceOrderError, price_lines,
};
use strata_domain::page::{Page, PageRequest};
use uuid::Uuid;

use crate::catalog_version::{VersionWatch, bump_version};
use crate::counts::CountCache;
use crate::entities::{order_items, orders, products};
use crate::error::DbResultExt;
use crate::idempotency;
use crate::query::{invalid_row, micros, paged};
use crate::tx::WriteGate;

/// [`OrderRepository`] over sea-orm.
#[derive(Debug, Clone)]
pub struct SeaOrderRepository {
    pub(crate) db: DatabaseConnection,
    writes: WriteGate,
    totals: Arc<CountCache<OrderFilter>>,
    /// Orders move stock, and with it the catalog version.
    version: VersionWatch,
}

impl SeaOrderRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        let version = VersionWatch::of(&db);
        Self {
            db,
            writes,
            version,
            totals: Arc::default(),
        }
    }
}

pub(crate) fn currency(table: &'static str, id: Uuid, raw: &str) -> Result<Currency, RepoError> {
    Currency::parse(raw).map_err(|v| invalid_row(table, id, "currency", v))
}

fn to_item(row: order_items::Model) -> Result<OrderItem, RepoError> {
    let id = row.order_id;
    Ok(OrderItem {
        product_id: row.product_id,
        product_name: row.product_name,
        unit_price: Price::parse(row.unit_price)
            .map_err(|v| invalid_row("order_items", id, "unit_price", v))?,
        quantity: row.quantity,
        line_total: row.line_total,
    })
}

fn to_order(row: orders::Model, items: Vec<OrderItem>) -> Result<Order, RepoError> {
    let id = row.id;
    Ok(Order {
        id,
        user_id: row.user_id,
        status: OrderStatus::parse(&row.status)
            .map_err(|v| invalid_row("orders", id, "status", v))?,
        currency: currency("orders", id, &row.currency)?,
        total: row.total,
        items,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The orders of `rows` with their items: one query for every order's items.
async fn with_items(
    db: &impl ConnectionTrait,
    rows: Vec<orders::Model>,
) -> Result<Vec<Order>, RepoError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let items = order_items::Entity::find()
        .filter(order_items::Column::OrderId.is_in(ids))
        .order_by_asc(order_items::Column::OrderId)
        .order_by_asc(order_items::Column::ProductId)
        .all(db)
        .await
        .or_repo("Failed to load order items")?;
    let mut by_order: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    for item in items {
        by_order
            .entry(item.order_id)
            .or_default()
            .push(to_item(item)?);
    }
    rows.into_iter()
        .map(|row| {
            let items = by_order.remove(&row.id).unwrap_or_default();
            to_order(row, items)
        })
        .collect()
}

async fn load(db: &impl ConnectionTrait, id: Uuid) -> Result<Order, RepoError> {
    let row = orders::Entity::find_by_id(id)
        .one(db)
        .await
        .or_repo("Failed to load order")?
        .ok_or(RepoError::NotFound)?;
    with_items(db, vec![row])
        .await?
        .pop()
        .ok_or(RepoError::NotFound)
}

/// Takes `quantity` units of an active product, returning its name, price
/// and currency, or `None` when it is missing, inactive or short.
async fn reserve(
    txn: &DatabaseTransaction,
    product_id: Uuid,
    quantity: i64,
    now: DateTime<Utc>,
) -> Result<Option<(String, i64, String)>, RepoError> {
    use products::Column as C;
    const CONTEXT: &str = "Failed to reserve stock";
    let update = Query::update()
        .table(products::Entity)
        .value(C::StockQuantity, Expr::col(C::StockQuantity).sub(quantity))
        .value(C::Version, Expr::col(C::Version).add(1))
        .value(C::UpdatedAt, Expr::value(now))
        .and_where(Expr::col(C::Id).eq(product_id))
        .and_where(Expr::col(C::IsActive).eq(true))
        .and_where(Expr::col(C::StockQuantity).gte(quantity))
        .returning(Query::returning().columns([C::Name, C::Price, C::Currency]))
        .to_owned();
    let Some(row) = txn.query_one(&update).await.or_repo(CONTEXT)? else {
        return Ok(None);
    };
    Ok(Some((
        row.try_get("", "name").or_repo(CONTEXT)?,
        row.try_get("", "price").or_repo(CONTEXT)?,
        row.try_get("", "currency").or_repo(CONTEXT)?,
    )))
}

/// Puts `quantity` units back.
async fn restock(
    txn: &DatabaseTransaction,
    product_id: Uuid,
    quantity: i64,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    use products::Column as C;
    products::Entity::update_many()
        .col_expr(C::StockQuantity, Expr::col(C::StockQuantity).add(quantity))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(product_id))
        .exec(txn)
        .await
        .or_repo("Failed to restock")?;
    Ok(())
}

#[async_trait]
impl OrderRepository for SeaOrderRepository {
    async fn place_keyed(
        &self,
        new: NewOrder,
        once: Option<Completion<Order>>,
    ) -> Result<Order, PlaceOrderError> {
        let now = micros(new.created_at);
        // Dropped without commit on any early return: rolled back.
        let txn = self.writes.begin(&self.db).await?;
        let mut priced = Vec::with_capacity(new.lines.lines().len());
        for line in new.lines.lines() {
            let Some((name, price, code)) =
                reserve(&txn, line.product_id, line.quantity, now).await?
            else {
                let active: Option<bool> = products::Entity::find_by_id(line.product_id)
                    .select_only()
                    .column(products::Column::IsActive)
                    .into_tuple()
                    .one(&txn)
                    .await
                    .or_repo("Failed to load product")?;
                let (product_id, position) = (line.product_id, line.position);
                return Err(match active {
                    Some(true) => PlaceOrderError::OutOfStock {
                        product_id,
                        position,
                    },
                    _ => PlaceOrderError::Unavailable {
                        product_id,
                        position,
                    },
                });
            };
            let price = Price::parse(price)
                .map_err(|v| invalid_row("products", line.product_id, "price", v))?;
            let currency = currency("products", line.product_id, &code)?;
            priced.push((*line, name, price, currency));
        }
        let (items, currency, total) = price_lines(priced)?;
        orders::Entity::insert(orders::ActiveModel {
            id: Set(new.id),
            user_id: Set(new.user_id),
            status: Set(OrderStatus::Pending.as_str().to_owned()),
            currency: Set(currency.as_str().to_owned()),
            total: Set(total),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await
        .or_repo("Failed to insert order")?;
        order_items::Entity::insert_many(items.iter().map(|item| order_items::ActiveModel {
            order_id: Set(new.id),
            product_id: Set(item.product_id),
            product_name: Set(item.product_name.clone()),
            unit_price: Set(item.unit_price.minor_units()),
            quantity: Set(item.quantity),
            line_total: Set(item.line_total),
        }))
        .exec_without_returning(&txn)
        .await
        .or_repo("Failed to insert order items")?;
        let _version = bump_version(&txn, &self.version).await?;
        let order = Order {
            id: new.id,
            user_id: new.user_id,
            status: OrderStatus::Pending,
            currency,
            total,
            items,
            created_at: now,
            updated_at: now,
        };
        idempotency::complete(&txn, once, &order).await?;
        txn.commit().await.or_repo("Failed to commit order")?;
        Ok(order)
    }

    async fn find(&self, id: Uuid) -> Result<Order, RepoError> {
        load(&self.db, id).await
    }

    async fn list(&self, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>, RepoError> {
        let mut select = orders::Entity::find();
        if let Some(user_id) = filter.user_id {
            select = select.filter(orders::Column::UserId.eq(user_id));
        }
        if let Some(status) = filter.status {
            select = select.filter(orders::Column::Status.eq(status.as_str()));
        }
        let rows = select
            .clone()
            .order_by_desc(orders::Column::CreatedAt)
            .order_by_desc(orders::Column::Id)
            .limit(page.limit())
            .offset(page.offset())
            .all(&self.db)
            .await
            .or_repo("Failed to list orders")?;
        let counted = self.totals.count(
            &self.writes,
            &filter,
            &select,
            &self.db,
            "Failed to count orders",
        );
        paged(page, false, with_items(&self.db, rows).await?, counted).await
    }

    async fn set_status(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> Result<Order, RepoError> {
        let now = micros(now);
        let txn = self.writes.begin(&self.db).await?;
        // The status guard is the compare-and-set: of two cancellations, the
        // second finds the order cancelled already and restocks nothing.
        let moved = orders::Entity::update_many()
            .col_expr(orders::Column::Status, Expr::value(to.as_str()))
            .col_expr(orders::Column::UpdatedAt, Expr::value(now))
            .filter(orders::Column::Id.eq(id))
            .filter(orders::Column::Status.eq(from.as_str()))
            .exec(&txn)
            .await
            .or_repo("Failed to update order status")?;
        if moved.rows_affected == 0 {
            let exists = orders::Entity::find_by_id(id)
                .select_only()
                .column(orders::Column::Id)
                .into_tuple::<Uuid>()
                .one(&txn)
                .await
                .or_repo("Failed to load order")?;
            return Err(match exists {
                Some(_) => RepoError::VersionMismatch,
                None => RepoError::NotFound,
            });
        }
        // Held until the commit: a cancellation moves the catalog version.
        let _version = if to == OrderStatus::Cancelled {
            // Items come back in product-id order: the same lock order as
            // placing an order.
            let items = order_items::Entity::find()
                .filter(order_items::Column::OrderId.eq(id))
                .order_by_asc(order_items::Column::ProductId)
                .all(&txn)
                .await
                .or_repo("Failed to load order items")?;
            for item in &items {
                restock(&txn, item.product_id, item.quantity, now).await?;
            }
            Some(bump_version(&txn, &self.version).await?)
        } else {
            None
        };
        let order = load(&txn, id).await?;
        txn.commit()
            .await
            .or_repo("Failed to commit order status")?;
        Ok(order)
    }

    async fn stats(&self, since: DateTime<Utc>, top: u64) -> Result<OrderStats, RepoError> {
        crate::orders_stats::stats(&self.db, since, top).await
    }
}
