//! Orders: placed by any signed-in user, seen and cancelled by their owner
//! or an admin (another user's order is not found, never forbidden), moved
//! along the status machine by admins.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use strata_domain::auth::Principal;
use strata_domain::idempotency::Completion;
use strata_domain::orders::{
    InvalidTransition, NewOrder, Order, OrderFilter, OrderLines, OrderRepository, OrderStats,
    OrderStatus, PlaceOrderError, PricingError,
};
use strata_domain::page::{Page, PageRequest};
use strata_domain::validation::Violation;
use strata_domain::{RepoError, ValidationErrors};
use uuid::Uuid;

use crate::ServiceError;
use crate::error::require_admin;

/// Days the statistics cover, today included.
pub const STATS_DAYS: i64 = 30;
/// Products the statistics rank.
pub const TOP_PRODUCTS: u64 = 10;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderService: Send + Sync {
    /// Places an order for the caller: prices copied from the catalog, total
    /// computed, stock reserved, all in one transaction.
    ///
    /// # Errors
    /// [`ServiceError::OutOfStock`] when any line is short (nothing is
    /// reserved); [`ServiceError::Validation`] for a product that does not
    /// exist or is inactive (`items[i].product_id`, `unavailable`), mixed
    /// currencies (`items`, `currency`) or a total past 64 bits (`items`,
    /// `range`); [`ServiceError::IdempotencyInProgress`] when `once` lost its
    /// key. With `once`, the request's idempotency attempt completes with it.
    async fn place(
        &self,
        caller: &Principal,
        lines: OrderLines,
        once: Option<Completion<Order>>,
    ) -> Result<Order, ServiceError>;

    /// The caller's orders; an admin's: everyone's, or one user's.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] when a non-admin names another user.
    async fn list(
        &self,
        caller: &Principal,
        user_id: Option<Uuid>,
        status: Option<OrderStatus>,
        page: PageRequest,
    ) -> Result<Page<Order>, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`] when it does not exist or is another
    /// user's (unless the caller is an admin).
    async fn get(&self, caller: &Principal, id: Uuid) -> Result<Order, ServiceError>;

    /// Cancels a pending or paid order and puts its units back in stock.
    ///
    /// # Errors
    /// As for `get`; [`ServiceError::InvalidTransition`] from any other
    /// status (a second cancellation included: it restocks nothing).
    async fn cancel(&self, caller: &Principal, id: Uuid) -> Result<Order, ServiceError>;

    /// Admins move an order along the status machine (`cancelled` restocks).
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`]; [`ServiceError::NotFound`];
    /// [`ServiceError::InvalidTransition`].
    async fn set_status(
        &self,
        caller: &Principal,
        id: Uuid,
        to: OrderStatus,
    ) -> Result<Order, ServiceError>;

    /// Revenue and orders per day over the last 30 days, and the top
    /// products; admins only.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`].
    async fn stats(&self, caller: &Principal) -> Result<OrderStats, ServiceError>;
}

pub struct OrderServiceImpl {
    orders: Arc<dyn OrderRepository>,
}

impl std::fmt::Debug for OrderServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderServiceImpl").finish_non_exhaustive()
    }
}

impl OrderServiceImpl {
    pub fn new(orders: Arc<dyn OrderRepository>) -> Self {
        Self { orders }
    }

    /// The order, if the caller may see it.
    async fn visible(&self, caller: &Principal, id: Uuid) -> Result<Order, ServiceError> {
        let order = self.orders.find(id).await?;
        if order.user_id == caller.user_id || caller.is_admin() {
            Ok(order)
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Moves `order` to `to` if the status machine allows it and nobody
    /// moved it meanwhile.
    async fn transition(&self, order: Order, to: OrderStatus) -> Result<Order, ServiceError> {
        let from = order.status;
        from.transition(to).map_err(invalid)?;
        match self.orders.set_status(order.id, from, to, Utc::now()).await {
            // The status moved on since it was read: judged against what it
            // is now, the move is refused (a racing second cancellation).
            Err(RepoError::VersionMismatch) => Err(ServiceError::InvalidTransition {
                from: from.as_str(),
                to: to.as_str(),
            }),
            other => Ok(other?),
        }
    }
}

fn invalid(err: InvalidTransition) -> ServiceError {
    ServiceError::InvalidTransition {
        from: err.from.as_str(),
        to: err.to.as_str(),
    }
}

impl From<PlaceOrderError> for ServiceError {
    fn from(err: PlaceOrderError) -> Self {
        match err {
            PlaceOrderError::OutOfStock { product_id, .. } => Self::OutOfStock { product_id },
            PlaceOrderError::Unavailable { position, .. } => ValidationErrors::single(
                &format!("items[{position}].product_id"),
                Violation::new("unavailable", "names no product for sale"),
            )
            .into(),
            PlaceOrderError::Pricing(PricingError::MixedCurrencies) => ValidationErrors::single(
                "items",
                Violation::new("currency", "must all be priced in one currency"),
            )
            .into(),
            PlaceOrderError::Pricing(PricingError::Overflow) => ValidationErrors::single(
                "items",
                Violation::new("range", "add up to a total too large to represent"),
            )
            .into(),
            PlaceOrderError::Repo(err) => err.into(),
        }
    }
}

#[async_trait]
impl OrderService for OrderServiceImpl {
    async fn place(
        &self,
        caller: &Principal,
        lines: OrderLines,
        once: Option<Completion<Order>>,
    ) -> Result<Order, ServiceError> {
        let order = NewOrder {
            id: Uuid::now_v7(),
            user_id: caller.user_id,
            lines,
            created_at: Utc::now(),
        };
        Ok(self.orders.place_keyed(order, once).await?)
    }

    async fn list(
        &self,
        caller: &Principal,
        user_id: Option<Uuid>,
        status: Option<OrderStatus>,
        page: PageRequest,
    ) -> Result<Page<Order>, ServiceError> {
        let user_id = match user_id {
            Some(user) if caller.is_admin() || user == caller.user_id => Some(user),
            Some(_) => return Err(ServiceError::Forbidden),
            None if caller.is_admin() => None,
            None => Some(caller.user_id),
        };
        let filter = OrderFilter { user_id, status };
        Ok(self.orders.list(filter, page).await?)
    }

    async fn get(&self, caller: &Principal, id: Uuid) -> Result<Order, ServiceError> {
        self.visible(caller, id).await
    }

    async fn cancel(&self, caller: &Principal, id: Uuid) -> Result<Order, ServiceError> {
        let order = self.visible(caller, id).await?;
        self.transition(order, OrderStatus::Cancelled).await
    }

    async fn set_status(
        &self,
        caller: &Principal,
        id: Uuid,
        to: OrderStatus,
    ) -> Result<Order, ServiceError> {
        require_admin(caller)?;
        let order = self.orders.find(id).await?;
        self.transition(order, to).await
    }

    async fn stats(&self, caller: &Principal) -> Result<OrderStats, ServiceError> {
        require_admin(caller)?;
        // From the start of the UTC day 29 days ago: 30 calendar days.
        let today = Utc::now().date_naive();
        let first = today - Duration::days(STATS_DAYS - 1);
        let since = first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        Ok(self.orders.stats(since, TOP_PRODUCTS).await?)
    }
}

#[cfg(test)]
#[path = "orders_tests.rs"]
mod tests;
