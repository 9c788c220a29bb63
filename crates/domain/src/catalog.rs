//! The catalog: categories and the products they hold, with prices as an
//! integer count of minor units in an ISO 4217 currency (never a float).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::items::{Description, Title};
use crate::page::{Direction, Page, PageRequest, Sort, SortField};
use crate::validation::Violation;

mod money;
mod slug;

pub use money::{Currency, MAX_PRICE, MAX_STOCK, Price, StockQuantity};
pub use slug::Slug;

/// A category; `parent_id` nests it under another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: Uuid,
    pub name: Title,
    pub slug: Slug,
    pub parent_id: Option<Uuid>,
    /// Incremented by every update; the HTTP layer's `ETag`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewCategory {
    pub id: Uuid,
    pub name: Title,
    pub slug: Slug,
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A partial update; `parent_id: Some(None)` makes it a top-level category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryChanges {
    pub name: Option<Title>,
    pub slug: Option<Slug>,
    pub parent_id: Option<Option<Uuid>>,
}

/// A product for sale (or not, while `is_active` is false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: Uuid,
    pub name: Title,
    pub slug: Slug,
    pub description: Option<Description>,
    pub price: Price,
    pub currency: Currency,
    pub stock_quantity: StockQuantity,
    pub category_id: Uuid,
    pub is_active: bool,
    /// Incremented by every change, stock included; the HTTP layer's `ETag`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewProduct {
    pub id: Uuid,
    pub name: Title,
    pub slug: Slug,
    pub description: Option<Description>,
    pub price: Price,
    pub currency: Currency,
    pub stock_quantity: StockQuantity,
    pub category_id: Uuid,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// A partial update; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<Title>,
    pub slug: Option<Slug>,
    pub description: Option<Option<Description>>,
    pub price: Option<Price>,
    pub currency: Option<Currency>,
    pub stock_quantity: Option<StockQuantity>,
    pub category_id: Option<Uuid>,
    pub is_active: Option<bool>,
}

/// How a product is addressed: `GET /products/{id_or_slug}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductKey {
    Id(Uuid),
    Slug(Slug),
}

impl ProductKey {
    /// A UUID is an id; anything else must be a slug (slugs are never
    /// UUID-shaped, see [`Slug::parse`]).
    ///
    /// # Errors
    /// The slug's [`Violation`].
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        match Uuid::parse_str(raw) {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => Slug::parse(raw).map(Self::Slug),
        }
    }
}

/// What a product list may be filtered by. Every list reads one activity
/// state (`is_active`), which is what keeps each sort on an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    pub is_active: bool,
    pub category_id: Option<Uuid>,
    /// Lower-cased text searched in name and description.
    pub q: Option<String>,
    pub min_price: Option<Price>,
    pub max_price: Option<Price>,
    /// `Some(true)`: stock above 0; `Some(false)`: sold out.
    pub in_stock: Option<bool>,
}

impl Default for ProductFilter {
    fn default() -> Self {
        Self {
            is_active: true,
            category_id: None,
            q: None,
            min_price: None,
            max_price: None,
            in_stock: None,
        }
    }
}

impl ProductFilter {
    /// A filter as a client sends it (prices in minor units); every bad
    /// argument is named.
    ///
    /// # Errors
    /// [`ValidationErrors`] for `q`, `min_price`, `max_price`, or a
    /// `max_price` below `min_price` (`range`).
    pub fn parse(
        is_active: Option<bool>,
        category_id: Option<Uuid>,
        q: Option<&str>,
        min_price: Option<i64>,
        max_price: Option<i64>,
        in_stock: Option<bool>,
    ) -> Result<Self, crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        let q = errors.check("q", crate::page::text_filter(q)).flatten();
        let min_price = min_price.and_then(|p| errors.check("min_price", Price::parse(p)));
        let max_price = max_price.and_then(|p| errors.check("max_price", Price::parse(p)));
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            errors.push(
                "max_price",
                Violation::new("range", "must not be below min_price"),
            );
        }
        errors.into_result()?;
        Ok(Self {
            is_active: is_active.unwrap_or(true),
            category_id,
            q,
            min_price,
            max_price,
            in_stock,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductSortField {
    Price,
    Name,
    CreatedAt,
}

impl SortField for ProductSortField {
    const NAMES: &'static [&'static str] = &["price", "name", "created_at"];
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "price" => Some(Self::Price),
            "name" => Some(Self::Name),
            "created_at" => Some(Self::CreatedAt),
            _ => None,
        }
    }
}

/// Newest first.
impl Default for Sort<ProductSortField> {
    fn default() -> Self {
        Self {
            field: ProductSortField::CreatedAt,
            direction: Direction::Desc,
        }
    }
}

/// Storage of the catalog. Every write bumps the catalog version (see
/// [`version`](Self::version)) in its own transaction.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CatalogRepository: Send + Sync {
    /// # Errors
    /// [`RepoError::Conflict`] (`Slug`) when the slug is taken;
    /// [`RepoError::NotFound`] when the parent does not exist.
    async fn create_category(&self, category: NewCategory) -> Result<Category, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`].
    async fn find_category(&self, id: Uuid) -> Result<Category, RepoError>;

    /// Every category by name (ties by id), a page at a time.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>, RepoError>;

    /// A compare-and-set on the version, as for items.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (the category, or the new parent);
    /// [`RepoError::VersionMismatch`]; [`RepoError::Conflict`] (`Slug`).
    async fn update_category(
        &self,
        id: Uuid,
        changes: CategoryChanges,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<Category, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`]; [`RepoError::VersionMismatch`];
    /// [`RepoError::InUse`] while products or sub-categories refer to it.
    async fn delete_category(&self, id: Uuid, expected_version: i64) -> Result<(), RepoError>;

    /// # Errors
    /// [`RepoError::Conflict`] (`Slug`); [`RepoError::NotFound`] when the
    /// category does not exist.
    async fn create_product(&self, product: NewProduct) -> Result<Product, RepoError>;

    /// Any product, active or not.
    ///
    /// # Errors
    /// [`RepoError::NotFound`].
    async fn find_product(&self, key: ProductKey) -> Result<Product, RepoError>;

    /// A page of products matching `filter`, in `sort` order (ties by id).
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_products(
        &self,
        filter: ProductFilter,
        sort: Sort<ProductSortField>,
        page: PageRequest,
    ) -> Result<Page<Product>, RepoError>;

    /// A compare-and-set on the version, as for items.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (the product, or the new category);
    /// [`RepoError::VersionMismatch`]; [`RepoError::Conflict`] (`Slug`).
    async fn update_product(
        &self,
        id: Uuid,
        changes: ProductChanges,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<Product, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`]; [`RepoError::VersionMismatch`];
    /// [`RepoError::InUse`] once it has been ordered (deactivate it instead).
    async fn delete_product(&self, id: Uuid, expected_version: i64) -> Result<(), RepoError>;

    /// The catalog version: it increases in the transaction of every catalog
    /// write (categories, products, and the stock that orders and
    /// cancellations move), so an unchanged version proves an unchanged
    /// catalog.
    ///
    /// The answer is at least the version committed when the call began:
    /// an adapter may answer from memory or share one read among concurrent
    /// calls, but never with a value read before the call.
    ///
    /// # Errors
    /// Only storage failures.
    async fn version(&self) -> Result<i64, RepoError>;
}
