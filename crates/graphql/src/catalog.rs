//! The catalog, public to read: categories and active products (an admin
//! may ask for inactive ones too). Prices are integer minor units, as on
//! REST. Changing the catalog stays on REST, where writes carry `If-Match`.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};
use strata_domain::ValidationErrors;
use strata_domain::catalog::{
    Category, Product, ProductFilter, ProductKey, ProductSortField, Slug,
};
use strata_domain::page::Sort;
use strata_service::ServiceError;
use uuid::Uuid;

use crate::context::{services, viewer};
use crate::error;
use crate::page::{self, PageOf};

#[derive(Debug)]
pub(crate) struct CategoryObject(pub Category);

#[Object(name = "Category")]
impl CategoryObject {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        self.0.name.as_str()
    }
    async fn slug(&self) -> &str {
        self.0.slug.as_str()
    }
    async fn parent_id(&self) -> Option<Uuid> {
        self.0.parent_id
    }
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Debug)]
pub(crate) struct ProductObject(pub Product);

#[Object(name = "Product")]
impl ProductObject {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        self.0.name.as_str()
    }
    async fn slug(&self) -> &str {
        self.0.slug.as_str()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_ref().map(|d| d.as_str())
    }
    /// In minor units of `currency` (cents for USD).
    async fn price(&self) -> i64 {
        self.0.price.minor_units()
    }
    async fn currency(&self) -> &str {
        self.0.currency.as_str()
    }
    async fn stock_quantity(&self) -> i64 {
        self.0.stock_quantity.units()
    }
    async fn category_id(&self) -> Uuid {
        self.0.category_id
    }
    async fn is_active(&self) -> bool {
        self.0.is_active
    }
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Debug, Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<CategoryObject>> {
        let page = page::request(limit, offset)?;
        let categories = services(ctx)?
            .catalog
            .list_categories(page)
            .await
            .map_err(error::service)?;
        Ok(PageOf::from_page(categories, CategoryObject))
    }

    /// Products, filtered and sorted as on REST (`price`, `name`,
    /// `created_at`, `-` for descending). `isActive: false` is for admins.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        category: Option<Uuid>,
        q: Option<String>,
        min_price: Option<i64>,
        max_price: Option<i64>,
        in_stock: Option<bool>,
        is_active: Option<bool>,
        sort: Option<String>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<ProductObject>> {
        let page = page::request(limit, offset)?;
        let filter = ProductFilter::parse(
            is_active,
            category,
            q.as_deref(),
            min_price,
            max_price,
            in_stock,
        )
        .map_err(error::validation)?;
        let sort = match sort.as_deref() {
            None => Sort::<ProductSortField>::default(),
            Some(raw) => Sort::parse(raw)
                .map_err(|v| error::validation(ValidationErrors::single("sort", v)))?,
        };
        let products = services(ctx)?
            .catalog
            .list_products(viewer(ctx), filter, sort, page)
            .await
            .map_err(error::service)?;
        Ok(PageOf::from_page(products, ProductObject))
    }

    /// One product by `id` or by `slug` (exactly one); `null` when there is
    /// none the caller may see.
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        slug: Option<String>,
    ) -> Result<Option<ProductObject>> {
        let key = match (id, slug) {
            (Some(id), None) => ProductKey::Id(id),
            (None, Some(slug)) => match Slug::parse(&slug) {
                Ok(slug) => ProductKey::Slug(slug),
                Err(_) => return Ok(None),
            },
            _ => return Err(error::one_of("id", "slug")),
        };
        match services(ctx)?.catalog.get_product(viewer(ctx), key).await {
            Ok(product) => Ok(Some(ProductObject(product))),
            Err(ServiceError::NotFound) => Ok(None),
            Err(err) => Err(error::service(err)),
        }
    }
}
