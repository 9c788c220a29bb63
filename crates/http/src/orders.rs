//! `/api/v1/orders`: placing orders against the catalog's stock, reading
//! one's own (admins: everyone's), cancelling, the admin status changes and
//! statistics.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::orders::{Order, OrderItem, OrderLines, OrderStats, OrderStatus};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::conditional::{IfNoneMatchParam, private_json};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson, Writer};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint_json, once};
use crate::page::{PageResponse, page_request};

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    // The fixed path first: `/orders/{id}` would capture "stats".
    cfg.service(order_stats)
        .service(list_orders)
        .service(place_order)
        .service(get_order)
        .service(cancel_order)
        .service(update_order);
}

/// An order's status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusDto {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl From<StatusDto> for OrderStatus {
    fn from(status: StatusDto) -> Self {
        match status {
            StatusDto::Pending => Self::Pending,
            StatusDto::Paid => Self::Paid,
            StatusDto::Shipped => Self::Shipped,
            StatusDto::Delivered => Self::Delivered,
            StatusDto::Cancelled => Self::Cancelled,
        }
    }
}

impl From<OrderStatus> for StatusDto {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Paid => Self::Paid,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemResponse {
    pub product_id: Uuid,
    /// The product's name when the order was placed.
    pub name: String,
    /// The product's price when the order was placed, in minor units.
    pub unit_price: i64,
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub line_total: i64,
}

impl From<&OrderItem> for OrderItemResponse {
    fn from(item: &OrderItem) -> Self {
        Self {
            product_id: item.product_id,
            name: item.product_name.clone(),
            unit_price: item.unit_price.minor_units(),
            quantity: item.quantity,
            line_total: item.line_total,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderResponse {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: StatusDto,
    /// ISO 4217; every item is priced in it.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The sum of the items' `line_total`, in minor units.
    pub total: i64,
    /// Sorted by product id.
    pub items: Vec<OrderItemResponse>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Order> for OrderResponse {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            status: order.status.into(),
            currency: order.currency.as_str().to_owned(),
            total: order.total,
            items: order.items.iter().map(OrderItemResponse::from).collect(),
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    pub product_id: Uuid,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// Each product at most once (a repeated product is 422 `duplicate`).
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<OrderLineRequest>,
}

impl PlaceOrderRequest {
    fn try_into_domain(self) -> Result<OrderLines, ValidationErrors> {
        let lines: Vec<(Uuid, i64)> = self
            .items
            .iter()
            .map(|line| (line.product_id, line.quantity))
            .collect();
        OrderLines::parse(&lines)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrderRequest {
    pub status: StatusDto,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000, default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
    pub status: Option<StatusDto>,
    /// Admins only: one user's orders.
    pub user_id: Option<Uuid>,
}

/// Place an order: prices are copied from the catalog, the total computed,
/// and the stock reserved in one transaction.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = PlaceOrderRequest,
    responses(
        (status = 201, body = OrderResponse, headers(("Location" = String))),
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`OUT_OF_STOCK`: a line asks for more than is in stock; nothing was reserved", body = Problem, content_type = "application/problem+json"),
    ),
    params(IdempotencyKeyParam),
)]
#[post("/orders")]
pub async fn place_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Writer,
    key: KeyHeader,
    body: ValidatedJson<PlaceOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let keyed = key.with(|| fingerprint_json(&req, &body.0));
    let lines = body.0.try_into_domain()?;
    once(
        &state.idempotency,
        &caller.0,
        keyed,
        |order: &Order| {
            crate::created(format!("/api/v1/orders/{}", order.id)).json(OrderResponse::from(order))
        },
        |once| state.orders.place(&caller.0, lines, once),
    )
    .await
}

/// The caller's orders, newest first; admins see everyone's.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("oauth2" = [])),
    params(OrderListQuery, IfNoneMatchParam),
    responses(
        (status = 200, body = PageResponse<OrderResponse>, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))),
        (status = 403, description = "`user_id` of another user without being an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders")]
pub async fn list_orders(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authenticated,
    query: web::Query<OrderListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::default();
    let page = page_request(query.limit, query.offset, &mut errors).ok_or(errors)?;
    let status = query.status.map(OrderStatus::from);
    let orders = state
        .orders
        .list(&caller.0, query.user_id, status, page)
        .await?;
    let page = PageResponse::from_page(orders, |o| OrderResponse::from(&o));
    private_json(&req, &page, None)
}

/// One order. Another user's order is 404, never 403.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path), IfNoneMatchParam),
    responses((status = 200, body = OrderResponse, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))))
)]
#[get("/orders/{id}")]
pub async fn get_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(&caller.0, id.into_inner()).await?;
    // No version column: the tag is the body's (a status change changes it).
    private_json(&req, &OrderResponse::from(&order), None)
}

/// Cancel a pending or paid order (its owner or an admin); its units go
/// back in stock.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = OrderResponse),
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_TRANSITION`: shipped, delivered or already cancelled; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/orders/{id}/cancel")]
pub async fn cancel_order(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    let order = state.orders.cancel(&caller.0, id.into_inner()).await?;
    Ok(web::Json(OrderResponse::from(&order)))
}

/// Move an order along `pending → paid → shipped → delivered`, or cancel
/// it from `pending` or `paid` (admins).
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateOrderRequest,
    responses(
        (status = 200, body = OrderResponse),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_TRANSITION`: the status machine forbids it; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/orders/{id}")]
pub async fn update_order(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: ValidatedJson<UpdateOrderRequest>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    let to = OrderStatus::from(body.0.status);
    let order = state
        .orders
        .set_status(&caller.0, id.into_inner(), to)
        .await?;
    Ok(web::Json(OrderResponse::from(&order)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyRevenueResponse {
    #[schema(value_type = String, format = Date, example = "2026-12-06")]
    pub date: NaiveDate,
    pub currency: String,
    pub orders: u64,
    /// Minor units of `currency`.
    pub revenue: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopProductResponse {
    pub product_id: Uuid,
    pub name: String,
    pub currency: String,
    /// Units sold.
    pub quantity: i64,
    /// Minor units of `currency`.
    pub revenue: i64,
}

/// Sales over the last 30 UTC days (today included), cancelled orders
/// excluded.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderStatsResponse {
    /// Per day and currency, oldest first; days without orders are absent.
    pub revenue_per_day: Vec<DailyRevenueResponse>,
    /// The ten products with the most units sold.
    pub top_products: Vec<TopProductResponse>,
}

impl From<OrderStats> for OrderStatsResponse {
    fn from(stats: OrderStats) -> Self {
        Self {
            revenue_per_day: stats
                .days
                .into_iter()
                .map(|d| DailyRevenueResponse {
                    date: d.date,
                    currency: d.currency.as_str().to_owned(),
                    orders: d.orders,
                    revenue: d.revenue,
                })
                .collect(),
            top_products: stats
                .top_products
                .into_iter()
                .map(|p| TopProductResponse {
                    product_id: p.product_id,
                    name: p.product_name,
                    currency: p.currency.as_str().to_owned(),
                    quantity: p.quantity,
                    revenue: p.revenue,
                })
                .collect(),
        }
    }
}

/// Revenue and orders per day over 30 days, and the top products (admins).
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = OrderStatsResponse),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders/stats")]
pub async fn order_stats(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<web::Json<OrderStatsResponse>, ApiError> {
    let stats = state.orders.stats(&caller.0).await?;
    Ok(web::Json(stats.into()))
}
