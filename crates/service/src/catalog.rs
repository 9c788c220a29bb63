//! The catalog: public reads, admin writes that must name the version they
//! replace (`If-Match`), and slugs derived from names.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::auth::Principal;
use strata_domain::catalog::{
    CatalogRepository, Category, CategoryChanges, Currency, NewCategory, NewProduct, Price,
    Product, ProductChanges, ProductFilter, ProductKey, ProductSortField, Slug, StockQuantity,
};
use strata_domain::items::{Description, Title};
use strata_domain::page::{Page, PageRequest, Sort};
use strata_domain::validation::Violation;
use strata_domain::{RepoError, ValidationErrors};
use uuid::Uuid;

use crate::ServiceError;
use crate::error::require_admin;

/// A new category, validated; without a slug, one is derived from the name.
#[derive(Debug, Clone)]
pub struct CategoryDraft {
    pub name: Title,
    pub slug: Option<Slug>,
    pub parent_id: Option<Uuid>,
}

/// A new product, validated; without a slug, one is derived from the name.
#[derive(Debug, Clone)]
pub struct ProductDraft {
    pub name: Title,
    pub slug: Option<Slug>,
    pub description: Option<Description>,
    pub price: Price,
    pub currency: Currency,
    pub stock_quantity: StockQuantity,
    pub category_id: Uuid,
    pub is_active: bool,
}

/// How deep categories may nest; deeper chains are refused as cycles.
const MAX_DEPTH: usize = 32;

/// Catalog use cases. Reads are public: `caller` is `None` for anonymous
/// requests. Inactive products are visible to admins only (others hear 404).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CatalogService: Send + Sync {
    /// # Errors
    /// Storage failures only.
    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`].
    async fn get_category(&self, id: Uuid) -> Result<Category, ServiceError>;

    /// # Errors
    /// [`ServiceError::Forbidden`] for a non-admin; [`ServiceError::Validation`]
    /// (`slug` underivable, `parent_id` unknown); [`ServiceError::Taken`]
    /// (`Slug`).
    async fn create_category(
        &self,
        caller: &Principal,
        draft: CategoryDraft,
    ) -> Result<Category, ServiceError>;

    /// # Errors
    /// As for `create_category`, plus [`ServiceError::PreconditionRequired`]
    /// without `if_match`, [`ServiceError::PreconditionFailed`] when stale,
    /// [`ServiceError::NotFound`], and a `parent_id` that would make a cycle
    /// (422).
    async fn update_category(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: CategoryChanges,
        if_match: Option<i64>,
    ) -> Result<Category, ServiceError>;

    /// # Errors
    /// As for `update_category`; [`ServiceError::Conflict`] while products or
    /// sub-categories refer to it.
    async fn delete_category(
        &self,
        caller: &Principal,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError>;

    /// Products matching `filter`. Only admins may list inactive ones.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] when a non-admin asks for inactive ones.
    async fn list_products(
        &self,
        caller: Option<Principal>,
        filter: ProductFilter,
        sort: Sort<ProductSortField>,
        page: PageRequest,
    ) -> Result<Page<Product>, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`], also for an inactive product unless the
    /// caller is an admin.
    async fn get_product(
        &self,
        caller: Option<Principal>,
        key: ProductKey,
    ) -> Result<Product, ServiceError>;

    /// # Errors
    /// As for `create_category` (`category_id` unknown: 422).
    async fn create_product(
        &self,
        caller: &Principal,
        draft: ProductDraft,
    ) -> Result<Product, ServiceError>;

    /// # Errors
    /// As for `update_category`.
    async fn update_product(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: ProductChanges,
        if_match: Option<i64>,
    ) -> Result<Product, ServiceError>;

    /// # Errors
    /// As for `update_category`; [`ServiceError::Conflict`] once ordered.
    async fn delete_product(
        &self,
        caller: &Principal,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError>;

    /// The catalog version (see [`CatalogRepository::version`]).
    ///
    /// # Errors
    /// Storage failures only.
    async fn version(&self) -> Result<i64, ServiceError>;
}

pub struct CatalogServiceImpl {
    catalog: Arc<dyn CatalogRepository>,
}

impl std::fmt::Debug for CatalogServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogServiceImpl").finish_non_exhaustive()
    }
}

impl CatalogServiceImpl {
    pub fn new(catalog: Arc<dyn CatalogRepository>) -> Self {
        Self { catalog }
    }

    /// A category that `field` names must exist: 422 otherwise.
    async fn existing_category(&self, field: &str, id: Uuid) -> Result<(), ServiceError> {
        match self.catalog.find_category(id).await {
            Ok(_) => Ok(()),
            Err(RepoError::NotFound) => Err(unknown(field)),
            Err(err) => Err(err.into()),
        }
    }

    /// Refuses a `parent` that is `id` itself or one of its descendants.
    async fn check_parent(&self, id: Uuid, parent: Uuid) -> Result<(), ServiceError> {
        let mut next = Some(parent);
        for _ in 0..MAX_DEPTH {
            let Some(current) = next else {
                return Ok(());
            };
            if current == id {
                return Err(cycle());
            }
            next = match self.catalog.find_category(current).await {
                Ok(category) => category.parent_id,
                Err(RepoError::NotFound) if current == parent => return Err(unknown("parent_id")),
                Err(RepoError::NotFound) => None,
                Err(err) => return Err(err.into()),
            };
        }
        Err(cycle())
    }
}

fn unknown(field: &str) -> ServiceError {
    ValidationErrors::single(field, Violation::new("not_found", "names no category")).into()
}

fn cycle() -> ServiceError {
    ValidationErrors::single(
        "parent_id",
        Violation::new(
            "cycle",
            format!("would put the category under itself (or nest deeper than {MAX_DEPTH})"),
        ),
    )
    .into()
}

/// The slug sent, or one derived from the name.
fn slug_or_derived(slug: Option<Slug>, name: &Title) -> Result<Slug, ServiceError> {
    match slug {
        Some(slug) => Ok(slug),
        None => Slug::derive(name.as_str()).map_err(|v| ValidationErrors::single("slug", v).into()),
    }
}

/// Admin writes replace a version the admin has seen: after the role,
/// `If-Match` is required.
fn admin_write(caller: &Principal, if_match: Option<i64>) -> Result<i64, ServiceError> {
    require_admin(caller)?;
    if_match.ok_or(ServiceError::PreconditionRequired)
}

/// A delete refused because something still refers to the row: 409 saying
/// what to do instead.
fn in_use_as(result: Result<(), RepoError>, why: &'static str) -> Result<(), ServiceError> {
    match result {
        Err(RepoError::InUse) => Err(ServiceError::Conflict(why)),
        other => Ok(other?),
    }
}

#[async_trait]
impl CatalogService for CatalogServiceImpl {
    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>, ServiceError> {
        Ok(self.catalog.list_categories(page).await?)
    }

    async fn get_category(&self, id: Uuid) -> Result<Category, ServiceError> {
        Ok(self.catalog.find_category(id).await?)
    }

    async fn create_category(
        &self,
        caller: &Principal,
        draft: CategoryDraft,
    ) -> Result<Category, ServiceError> {
        require_admin(caller)?;
        let slug = slug_or_derived(draft.slug, &draft.name)?;
        if let Some(parent) = draft.parent_id {
            self.existing_category("parent_id", parent).await?;
        }
        let category = NewCategory {
            id: Uuid::now_v7(),
            name: draft.name,
            slug,
            parent_id: draft.parent_id,
            created_at: Utc::now(),
        };
        Ok(self.catalog.create_category(category).await?)
    }

    async fn update_category(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: CategoryChanges,
        if_match: Option<i64>,
    ) -> Result<Category, ServiceError> {
        let expected = admin_write(caller, if_match)?;
        if let Some(Some(parent)) = changes.parent_id {
            self.check_parent(id, parent).await?;
        }
        Ok(self
            .catalog
            .update_category(id, changes, expected, Utc::now())
            .await?)
    }

    async fn delete_category(
        &self,
        caller: &Principal,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let expected = admin_write(caller, if_match)?;
        in_use_as(
            self.catalog.delete_category(id, expected).await,
            "The category still has products or sub-categories; move or delete them first.",
        )
    }

    async fn list_products(
        &self,
        caller: Option<Principal>,
        filter: ProductFilter,
        sort: Sort<ProductSortField>,
        page: PageRequest,
    ) -> Result<Page<Product>, ServiceError> {
        if !filter.is_active && !caller.is_some_and(|c| c.is_admin()) {
            return Err(ServiceError::Forbidden);
        }
        Ok(self.catalog.list_products(filter, sort, page).await?)
    }

    async fn get_product(
        &self,
        caller: Option<Principal>,
        key: ProductKey,
    ) -> Result<Product, ServiceError> {
        let product = self.catalog.find_product(key).await?;
        if product.is_active || caller.is_some_and(|c| c.is_admin()) {
            Ok(product)
        } else {
            Err(ServiceError::NotFound)
        }
    }

    async fn create_product(
        &self,
        caller: &Principal,
        draft: ProductDraft,
    ) -> Result<Product, ServiceError> {
        require_admin(caller)?;
        let slug = slug_or_derived(draft.slug, &draft.name)?;
        self.existing_category("category_id", draft.category_id)
            .await?;
        let product = NewProduct {
            id: Uuid::now_v7(),
            name: draft.name,
            slug,
            description: draft.description,
            price: draft.price,
            currency: draft.currency,
            stock_quantity: draft.stock_quantity,
            category_id: draft.category_id,
            is_active: draft.is_active,
            created_at: Utc::now(),
        };
        Ok(self.catalog.create_product(product).await?)
    }

    async fn update_product(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: ProductChanges,
        if_match: Option<i64>,
    ) -> Result<Product, ServiceError> {
        let expected = admin_write(caller, if_match)?;
        if let Some(category_id) = changes.category_id {
            self.existing_category("category_id", category_id).await?;
        }
        Ok(self
            .catalog
            .update_product(id, changes, expected, Utc::now())
            .await?)
    }

    async fn delete_product(
        &self,
        caller: &Principal,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let expected = admin_write(caller, if_match)?;
        in_use_as(
            self.catalog.delete_product(id, expected).await,
            "The product has been ordered; deactivate it (is_active: false) instead.",
        )
    }

    async fn version(&self) -> Result<i64, ServiceError> {
        Ok(self.catalog.version().await?)
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
