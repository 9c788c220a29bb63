//! Orders: the caller's own (an admin's: everyone's). Placing one reserves
//! its stock in the same transaction, so racing buyers never oversell.

use async_graphql::{Context, Enum, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use strata_domain::orders::{Order, OrderItem, OrderLines};
use strata_service::ServiceError;
use uuid::Uuid;

use crate::context::{caller, services, writer};
use crate::error;
use crate::page::{self, PageOf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "OrderStatus", remote = "strata_domain::orders::OrderStatus")]
pub(crate) enum OrderStatusValue {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

#[derive(Debug)]
pub(crate) struct OrderObject(pub Order);

#[Object(name = "Order")]
impl OrderObject {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn user_id(&self) -> Uuid {
        self.0.user_id
    }
    async fn status(&self) -> OrderStatusValue {
        self.0.status.into()
    }
    async fn currency(&self) -> &str {
        self.0.currency.as_str()
    }
    /// In minor units of `currency`.
    async fn total(&self) -> i64 {
        self.0.total
    }
    async fn items(&self) -> Vec<OrderItemObject<'_>> {
        self.0.items.iter().map(OrderItemObject).collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Debug)]
pub(crate) struct OrderItemObject<'a>(&'a OrderItem);

/// A line as it was priced when the order was placed.
#[Object(name = "OrderItem")]
impl OrderItemObject<'_> {
    async fn product_id(&self) -> Uuid {
        self.0.product_id
    }
    async fn product_name(&self) -> &str {
        &self.0.product_name
    }
    async fn unit_price(&self) -> i64 {
        self.0.unit_price.minor_units()
    }
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    async fn line_total(&self) -> i64 {
        self.0.line_total
    }
}

#[derive(Debug, Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// The caller's orders, newest first; an admin's: everyone's, or one
    /// user's with `userId`.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        user_id: Option<Uuid>,
        status: Option<OrderStatusValue>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<OrderObject>> {
        let caller = caller(ctx)?;
        let page = page::request(limit, offset)?;
        let orders = services(ctx)?
            .orders
            .list(&caller, user_id, status.map(Into::into), page)
            .await
            .map_err(error::service)?;
        Ok(PageOf::from_page(orders, OrderObject))
    }

    /// One of the caller's orders; `null` when there is none by that id
    /// that the caller may see.
    async fn order(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<OrderObject>> {
        let caller = caller(ctx)?;
        match services(ctx)?.orders.get(&caller, id).await {
            Ok(order) => Ok(Some(OrderObject(order))),
            Err(ServiceError::NotFound) => Ok(None),
            Err(err) => Err(error::service(err)),
        }
    }
}

#[derive(Debug, InputObject)]
struct OrderLineInput {
    product_id: Uuid,
    quantity: i64,
}

#[derive(Debug, Default)]
pub struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Places an order at the catalog's current prices; `OUT_OF_STOCK`
    /// when any line is short (then nothing is reserved).
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        items: Vec<OrderLineInput>,
    ) -> Result<OrderObject> {
        let caller = writer(ctx).await?;
        let lines: Vec<(Uuid, i64)> = items
            .iter()
            .map(|line| (line.product_id, line.quantity))
            .collect();
        let lines = OrderLines::parse(&lines).map_err(error::validation)?;
        services(ctx)?
            .orders
            .place(&caller, lines, None)
            .await
            .map(OrderObject)
            .map_err(error::service)
    }

    /// Cancels a pending or paid order and restocks its units, once.
    async fn cancel_order(&self, ctx: &Context<'_>, id: Uuid) -> Result<OrderObject> {
        let caller = writer(ctx).await?;
        services(ctx)?
            .orders
            .cancel(&caller, id)
            .await
            .map(OrderObject)
            .map_err(error::service)
    }
}
