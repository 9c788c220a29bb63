//! The admin statistics of [`crate::SeaOrderRepository`]: two aggregate
//! queries over the window, whatever its number of orders.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Order as Direction, QueryFilter,
    QueryOrder, QuerySelect,
};
use strata_domain::RepoError;
use strata_domain::orders::{DailyRevenue, OrderStats, OrderStatus, TopProduct};

use crate::entities::{order_items, orders};
use crate::error::DbResultExt;
use crate::orders::currency;
use crate::query::{count, micros};

/// The UTC calendar day of `orders.created_at`, as `YYYY-MM-DD` text on
/// both backends (as for the users' sign-ups).
fn order_day(backend: DatabaseBackend) -> Expr {
    match backend {
        DatabaseBackend::Postgres => {
            Expr::cust(r#"to_char("orders"."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD')"#)
        }
        _ => Expr::cust(r#"date("orders"."created_at")"#),
    }
}

/// A day a backend answered in another shape.
#[derive(Debug, thiserror::Error)]
#[error("order day {0:?} is not a YYYY-MM-DD date")]
struct InvalidDay(String);

pub(crate) async fn stats(
    db: &DatabaseConnection,
    since: DateTime<Utc>,
    top: u64,
) -> Result<OrderStats, RepoError> {
    let since = micros(since);
    let cancelled = OrderStatus::Cancelled.as_str();
    let day = order_day(db.get_database_backend());
    // PostgreSQL sums bigints as numeric: cast back.
    let rows: Vec<(String, String, i64, i64)> = orders::Entity::find()
        .select_only()
        .expr_as(day.clone(), "day")
        .column(orders::Column::Currency)
        .expr_as(Expr::col(orders::Column::Id).count(), "n")
        .expr_as(
            Expr::cust(r#"CAST(SUM("orders"."total") AS BIGINT)"#),
            "revenue",
        )
        .filter(orders::Column::CreatedAt.gte(since))
        .filter(orders::Column::Status.ne(cancelled))
        .group_by(day.clone())
        .group_by(orders::Column::Currency)
        .order_by_asc(day)
        .order_by_asc(orders::Column::Currency)
        .into_tuple()
        .all(db)
        .await
        .or_repo("Failed to sum orders per day")?;
    let days = rows
        .into_iter()
        .map(|(day, code, n, revenue)| {
            let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|_| RepoError::unexpected("Failed to read order day", InvalidDay(day)))?;
            Ok(DailyRevenue {
                date,
                currency: currency("orders", uuid::Uuid::nil(), &code)?,
                orders: count(n),
                revenue,
            })
        })
        .collect::<Result<_, RepoError>>()?;

    let rows: Vec<(uuid::Uuid, String, String, i64, i64)> = order_items::Entity::find()
        .select_only()
        .column(order_items::Column::ProductId)
        .expr_as(Expr::cust(r#"MAX("order_items"."product_name")"#), "name")
        .column_as(orders::Column::Currency, "currency")
        .expr_as(
            Expr::cust(r#"CAST(SUM("order_items"."quantity") AS BIGINT)"#),
            "units",
        )
        .expr_as(
            Expr::cust(r#"CAST(SUM("order_items"."line_total") AS BIGINT)"#),
            "revenue",
        )
        .inner_join(orders::Entity)
        .filter(orders::Column::CreatedAt.gte(since))
        .filter(orders::Column::Status.ne(cancelled))
        .group_by(order_items::Column::ProductId)
        .group_by(orders::Column::Currency)
        .order_by(Expr::cust(r#""units""#), Direction::Desc)
        .order_by_asc(order_items::Column::ProductId)
        .limit(top)
        .into_tuple()
        .all(db)
        .await
        .or_repo("Failed to rank products")?;
    let top_products = rows
        .into_iter()
        .map(|(product_id, product_name, code, quantity, revenue)| {
            Ok(TopProduct {
                product_id,
                product_name,
                currency: currency("order_items", product_id, &code)?,
                quantity,
                revenue,
            })
        })
        .collect::<Result<_, RepoError>>()?;
    Ok(OrderStats { days, top_products })
}
