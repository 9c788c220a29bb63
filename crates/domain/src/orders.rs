//! Orders: lines priced from the catalog when placed, a total computed with
//! checked arithmetic in one currency, stock reserved in the same
//! transaction, and a status machine.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::ValidationErrors;
use crate::catalog::{Currency, Price};
use crate::idempotency::Completion;
use crate::page::{Page, PageRequest};
use crate::validation::Violation;

/// The most lines an order may have.
pub const MAX_LINES: usize = 100;
/// The most units of one product an order line may ask for.
pub const MAX_QUANTITY: i64 = 1000;

/// `pending → paid → shipped → delivered`; `cancelled` from `pending` or
/// `paid`. Nothing leaves `delivered` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Paid,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
        }
    }

    /// # Errors
    /// A [`Violation`] (`enum`) naming the statuses.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                Violation::new(
                    "enum",
                    "must be one of pending, paid, shipped, delivered, cancelled",
                )
            })
    }

    /// Whether an order in this status may move to `next`.
    pub fn may_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Pending, Self::Paid)
                | (Self::Paid, Self::Shipped)
                | (Self::Shipped, Self::Delivered)
                | (Self::Pending | Self::Paid, Self::Cancelled)
        )
    }

    /// # Errors
    /// [`InvalidTransition`] when [`may_become`](Self::may_become) is false.
    pub fn transition(self, next: Self) -> Result<Self, InvalidTransition> {
        if self.may_become(next) {
            Ok(next)
        } else {
            Err(InvalidTransition {
                from: self,
                to: next,
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {} to {}", from.as_str(), to.as_str())]
pub struct InvalidTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// One requested line: a product and how many units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub quantity: i64,
    /// Where the line was in the request, to name it in errors.
    pub position: usize,
}

/// The lines of an order to place: 1..=100 lines of 1..=1000 units, each
/// product once, sorted by product id (the order in which stock is locked,
/// so that two orders can never wait on each other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLines(Vec<OrderLine>);

impl OrderLines {
    /// Checks `(product_id, quantity)` pairs as sent. A product listed twice
    /// is refused rather than merged: the client's intent is unclear.
    ///
    /// # Errors
    /// [`ValidationErrors`] naming `items` (`length`) or
    /// `items[i].quantity` (`range`), `items[i].product_id` (`duplicate`).
    pub fn parse(lines: &[(Uuid, i64)]) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if lines.is_empty() || lines.len() > MAX_LINES {
            errors.push(
                "items",
                Violation::new("length", format!("must hold 1 to {MAX_LINES} lines")),
            );
            return Err(errors);
        }
        let mut sorted = Vec::with_capacity(lines.len());
        for (position, &(product_id, quantity)) in lines.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                errors.push(
                    &format!("items[{position}].quantity"),
                    Violation::new("range", format!("must be between 1 and {MAX_QUANTITY}")),
                );
            }
            if lines[..position].iter().any(|(id, _)| *id == product_id) {
                errors.push(
                    &format!("items[{position}].product_id"),
                    Violation::new(
                        "duplicate",
                        "lists a product already ordered above; put the whole quantity on one line",
                    ),
                );
            }
            sorted.push(OrderLine {
                product_id,
                quantity,
                position,
            });
        }
        errors.into_result()?;
        sorted.sort_by_key(|line| line.product_id);
        Ok(Self(sorted))
    }

    pub fn lines(&self) -> &[OrderLine] {
        &self.0
    }
}

/// A line as reserved: the product's name and price at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub product_id: Uuid,
    pub product_name: String,
    pub unit_price: Price,
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub line_total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("an order's products must all be priced in one currency")]
    MixedCurrencies,
    #[error("the order total does not fit in 64 bits")]
    Overflow,
}

/// The line totals and the order total of lines priced in `(price,
/// currency)`: one currency for the whole order, every product and sum
/// checked.
///
/// # Errors
/// [`PricingError`].
pub fn price_lines(
    lines: impl IntoIterator<Item = (OrderLine, String, Price, Currency)>,
) -> Result<(Vec<OrderItem>, Currency, i64), PricingError> {
    let mut currency = None;
    let mut total: i64 = 0;
    let mut items = Vec::new();
    for (line, product_name, unit_price, line_currency) in lines {
        match currency {
            None => currency = Some(line_currency),
            Some(c) if c != line_currency => return Err(PricingError::MixedCurrencies),
            Some(_) => {}
        }
        let line_total = unit_price
            .times(line.quantity)
            .ok_or(PricingError::Overflow)?;
        total = total
            .checked_add(line_total)
            .ok_or(PricingError::Overflow)?;
        items.push(OrderItem {
            product_id: line.product_id,
            product_name,
            unit_price,
            quantity: line.quantity,
            line_total,
        });
    }
    // Lines are never empty (`OrderLines::parse`); an empty order has no
    // currency to be in.
    let currency = currency.ok_or(PricingError::MixedCurrencies)?;
    Ok((items, currency, total))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub currency: Currency,
    /// The sum of the items' line totals, in minor units.
    pub total: i64,
    pub items: Vec<OrderItem>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: Uuid,
    pub user_id: Uuid,
    pub lines: OrderLines,
    pub created_at: DateTime<Utc>,
}

/// Why an order could not be placed. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// Fewer units in stock than the line asks for.
    #[error("not enough stock of product {product_id}")]
    OutOfStock { product_id: Uuid, position: usize },
    /// No such product, or it is not for sale (`is_active` false).
    #[error("product {product_id} is not for sale")]
    Unavailable { product_id: Uuid, position: usize },
    #[error(transparent)]
    Pricing(#[from] PricingError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OrderFilter {
    /// Only this user's orders; `None` means everyone's (admins only).
    pub user_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
}

/// Orders and revenue of one UTC day, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRevenue {
    pub date: NaiveDate,
    pub currency: Currency,
    pub orders: u64,
    /// Minor units.
    pub revenue: i64,
}

/// A product's sales over the statistics' window, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopProduct {
    pub product_id: Uuid,
    pub product_name: String,
    pub currency: Currency,
    pub quantity: i64,
    pub revenue: i64,
}

/// Sales since a given instant, cancelled orders excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderStats {
    /// Days with at least one order, oldest first.
    pub days: Vec<DailyRevenue>,
    /// Most units sold first.
    pub top_products: Vec<TopProduct>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// In one transaction: for each line in product-id order, takes the
    /// units from stock with a conditional update (`stock_quantity >=
    /// quantity`, active products only), copies the product's name and
    /// price, then inserts the order and its items with the total, and
    /// bumps the catalog version.
    ///
    /// With `once`, the request's idempotency attempt completes in the same
    /// transaction.
    ///
    /// # Errors
    /// [`PlaceOrderError`] (with [`RepoError::ClaimLost`] when `once` lost
    /// its key); nothing is written unless it returns `Ok`.
    async fn place_keyed(
        &self,
        order: NewOrder,
        once: Option<Completion<Order>>,
    ) -> Result<Order, PlaceOrderError>;

    /// [`Self::place_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::place_keyed`].
    async fn place(&self, order: NewOrder) -> Result<Order, PlaceOrderError> {
        self.place_keyed(order, None).await
    }

    /// # Errors
    /// [`RepoError::NotFound`].
    async fn find(&self, id: Uuid) -> Result<Order, RepoError>;

    /// Newest first (ties by id), with their items, in a constant number of
    /// queries.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list(&self, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>, RepoError>;

    /// Moves the order from `from` to `to`, only if it is still in `from`
    /// (a compare-and-set on the status). Moving to `cancelled` puts every
    /// item's units back in stock in the same transaction, so a second
    /// cancellation, finding the status moved on, restocks nothing.
    ///
    /// # Errors
    /// [`RepoError::NotFound`]; [`RepoError::VersionMismatch`] when the
    /// status is no longer `from`.
    async fn set_status(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> Result<Order, RepoError>;

    /// Revenue and orders per UTC day and currency, and the `top` products
    /// by units sold, for orders placed since `since`, cancelled ones
    /// excluded: two aggregate queries.
    ///
    /// # Errors
    /// Only storage failures.
    async fn stats(&self, since: DateTime<Utc>, top: u64) -> Result<OrderStats, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_machine_allows_exactly_the_documented_moves() {
        use OrderStatus::*;
        let allowed = [
            (Pending, Paid),
            (Paid, Shipped),
            (Shipped, Delivered),
            (Pending, Cancelled),
            (Paid, Cancelled),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.may_become(to), expected, "{from:?} -> {to:?}");
                match from.transition(to) {
                    Ok(next) => assert_eq!(next, to),
                    Err(err) => {
                        assert!(!expected);
                        assert_eq!((err.from, err.to), (from, to));
                    }
                }
            }
        }
    }

    #[test]
    fn statuses_parse_by_name() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()).unwrap(), status);
        }
        assert_eq!(OrderStatus::parse("Paid").unwrap_err().code, "enum");
    }

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
    }

    #[test]
    fn lines_are_bounded_sorted_by_product_and_never_duplicated() {
        let [a, b, c] = ids(3).try_into().unwrap();
        let lines = OrderLines::parse(&[(c, 1), (a, 2), (b, 1000)]).unwrap();
        let order: Vec<_> = lines.lines().iter().map(|l| l.product_id).collect();
        assert_eq!(order, [a, b, c]);
        assert_eq!(lines.lines()[0].position, 1);

        assert_eq!(OrderLines::parse(&[]).unwrap_err().0[0].field, "items");
        let many: Vec<_> = ids(MAX_LINES + 1).into_iter().map(|id| (id, 1)).collect();
        assert_eq!(OrderLines::parse(&many).unwrap_err().0[0].code, "length");
        assert!(OrderLines::parse(&many[..MAX_LINES]).is_ok());

        let errors = OrderLines::parse(&[(a, 0), (b, 1001), (a, 1)]).unwrap_err();
        let fields: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            fields,
            [
                ("items[0].quantity", "range"),
                ("items[1].quantity", "range"),
                ("items[2].product_id", "duplicate"),
            ]
        );
    }

    fn priced(price: i64, currency: &str, quantity: i64) -> (OrderLine, String, Price, Currency) {
        (
            OrderLine {
                product_id: Uuid::now_v7(),
                quantity,
                position: 0,
            },
            "thing".into(),
            Price::parse(price).unwrap(),
            Currency::parse(currency).unwrap(),
        )
    }

    #[test]
    fn the_total_is_the_sum_of_the_line_totals() {
        let (items, currency, total) =
            price_lines([priced(250, "EUR", 3), priced(1999, "EUR", 2)]).unwrap();
        assert_eq!(currency.as_str(), "EUR");
        assert_eq!(
            items.iter().map(|i| i.line_total).collect::<Vec<_>>(),
            [750, 3998]
        );
        assert_eq!(total, 4748);
    }

    #[test]
    fn mixed_currencies_and_overflow_are_refused() {
        assert_eq!(
            price_lines([priced(1, "EUR", 1), priced(1, "USD", 1)]).unwrap_err(),
            PricingError::MixedCurrencies
        );
        let max = crate::catalog::MAX_PRICE;
        // One line past i64: the multiplication overflows.
        assert_eq!(
            price_lines([priced(max, "EUR", i64::MAX / max + 1)]).unwrap_err(),
            PricingError::Overflow
        );
        // Lines that fit alone but not together: the sum overflows.
        let half = i64::MAX / max;
        assert_eq!(
            price_lines([priced(max, "EUR", half), priced(max, "EUR", half)]).unwrap_err(),
            PricingError::Overflow
        );
        assert_eq!(
            price_lines(Vec::new()).unwrap_err(),
            PricingError::MixedCurrencies
        );
    }
}
