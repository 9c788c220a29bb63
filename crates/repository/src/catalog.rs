//! The catalog, stored in `categories` and `products`, and its version in
//! `catalog_version`. Products' queries are in `catalog_products.rs`.
//!
//! Every write runs in one transaction that also bumps the catalog version
//! (see `catalog_version.rs`), last, so transactions lock rows in one order
//! (the catalog's rows first, the version row last) and cannot deadlock.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, DeleteMany, DeriveIden, EntityTrait,
    PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, UpdateMany,
};
use strata_domain::RepoError;
use strata_domain::catalog::{
    CatalogRepository, Category, CategoryChanges, NewCategory, NewProduct, Product, ProductChanges,
    ProductFilter, ProductKey, ProductSortField, Slug,
};
use strata_domain::items::Title;
use strata_domain::page::{Page, PageRequest, Sort};
use uuid::Uuid;

use crate::catalog_products as products;
use crate::catalog_version::{VersionWatch, bump_version, read_version};
use crate::counts::CountCache;
use crate::entities::categories;
use crate::error::{DbResultExt, map_db_err};
use crate::query::{invalid_row, micros, paged};
use crate::tx::WriteGate;

/// [`CatalogRepository`] over sea-orm.
#[derive(Debug, Clone)]
pub struct SeaCatalogRepository {
    pub(crate) db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    pub(crate) writes: WriteGate,
    category_totals: Arc<CountCache<()>>,
    pub(crate) product_totals: Arc<CountCache<ProductFilter>>,
    /// What this process knows of the catalog version.
    pub(crate) version: VersionWatch,
}

impl SeaCatalogRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        let version = VersionWatch::of(&db);
        Self {
            db,
            writes,
            version,
            category_totals: Arc::default(),
            product_totals: Arc::default(),
        }
    }
}

/// A delete refused by a foreign key (a row that refers to it committed
/// since the `NOT EXISTS` was read) is the same answer as one the guard
/// caught: still in use.
pub(crate) fn in_use_or(context: &'static str, err: DbErr) -> RepoError {
    match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => RepoError::InUse,
        _ => map_db_err(context, err),
    }
}

impl TryFrom<categories::Model> for Category {
    type Error = RepoError;

    fn try_from(row: categories::Model) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(Category {
            id,
            name: Title::parse(&row.name).map_err(|v| invalid_row("categories", id, "name", v))?,
            slug: Slug::parse(&row.slug).map_err(|v| invalid_row("categories", id, "slug", v))?,
            parent_id: row.parent_id,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Why a guarded write changed nothing: the row is gone, its version moved
/// on, or (when the version matches) `otherwise`.
pub(crate) fn why_unchanged(
    version: Option<i64>,
    expected: i64,
    otherwise: RepoError,
) -> RepoError {
    match version {
        None => RepoError::NotFound,
        Some(v) if v != expected => RepoError::VersionMismatch,
        Some(_) => otherwise,
    }
}

/// Runs `update`, a compare-and-set on row `id` (guarded by
/// `expected_version`), reads the row back and bumps the catalog version,
/// all in one transaction.
///
/// # Errors
/// [`RepoError::NotFound`], [`RepoError::VersionMismatch`], or the
/// update's failure (a taken slug, a missing foreign row).
pub(crate) async fn versioned_update<E>(
    repo: &SeaCatalogRepository,
    update: UpdateMany<E>,
    id: Uuid,
    expected_version: i64,
    version_of: fn(&E::Model) -> i64,
) -> Result<E::Model, RepoError>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    let txn = repo.writes.begin(&repo.db).await?;
    let result = update.exec(&txn).await.or_repo("Failed to update")?;
    let row = E::find_by_id(id)
        .one(&txn)
        .await
        .or_repo("Failed to load the updated row")?;
    let row = match row {
        Some(row) if result.rows_affected > 0 => row,
        other => {
            let version = other.as_ref().map(version_of);
            return Err(why_unchanged(
                version,
                expected_version,
                RepoError::NotFound,
            ));
        }
    };
    let _version = bump_version(&txn, &repo.version).await?;
    txn.commit().await.or_repo("Failed to commit")?;
    Ok(row)
}

/// Runs `delete`, guarded by `expected_version` and by whatever else it
/// filters on (nothing referring to the row), and bumps the catalog
/// version, in one transaction.
///
/// # Errors
/// [`RepoError::NotFound`], [`RepoError::VersionMismatch`], or
/// [`RepoError::InUse`] when only the other guards refused.
pub(crate) async fn versioned_delete<E>(
    repo: &SeaCatalogRepository,
    delete: DeleteMany<E>,
    id: Uuid,
    expected_version: i64,
    version: E::Column,
) -> Result<(), RepoError>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    let txn = repo.writes.begin(&repo.db).await?;
    let result = delete
        .exec(&txn)
        .await
        .map_err(|err| in_use_or("Failed to delete", err))?;
    if result.rows_affected == 0 {
        let found = E::find_by_id(id)
            .select_only()
            .column(version)
            .into_tuple::<i64>()
            .one(&txn)
            .await
            .or_repo("Failed to load the row to delete")?;
        return Err(why_unchanged(found, expected_version, RepoError::InUse));
    }
    let _version = bump_version(&txn, &repo.version).await?;
    txn.commit().await.or_repo("Failed to commit")
}

#[async_trait]
impl CatalogRepository for SeaCatalogRepository {
    async fn create_category(&self, new: NewCategory) -> Result<Category, RepoError> {
        let created_at = micros(new.created_at);
        let row = categories::ActiveModel {
            id: Set(new.id),
            name: Set(new.name.as_str().to_owned()),
            slug: Set(new.slug.as_str().to_owned()),
            parent_id: Set(new.parent_id),
            version: Set(1),
            created_at: Set(created_at),
            updated_at: Set(created_at),
        };
        let txn = self.writes.begin(&self.db).await?;
        categories::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .or_repo("Failed to insert category")?;
        let _version = bump_version(&txn, &self.version).await?;
        txn.commit().await.or_repo("Failed to commit category")?;
        Ok(Category {
            id: new.id,
            name: new.name,
            slug: new.slug,
            parent_id: new.parent_id,
            version: 1,
            created_at,
            updated_at: created_at,
        })
    }

    async fn find_category(&self, id: Uuid) -> Result<Category, RepoError> {
        categories::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .or_repo("Failed to load category")?
            .ok_or(RepoError::NotFound)
            .and_then(Category::try_from)
    }

    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>, RepoError> {
        let select = categories::Entity::find();
        let rows = select
            .clone()
            .order_by_asc(categories::Column::Name)
            .order_by_asc(categories::Column::Id)
            .limit(page.limit())
            .offset(page.offset())
            .all(&self.db)
            .await
            .or_repo("Failed to list categories")?;
        let counted = self.category_totals.count(
            &self.writes,
            &(),
            &select,
            &self.db,
            "Failed to count categories",
        );
        let items = rows
            .into_iter()
            .map(Category::try_from)
            .collect::<Result<_, _>>()?;
        paged(page, false, items, counted).await
    }

    async fn update_category(
        &self,
        id: Uuid,
        changes: CategoryChanges,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<Category, RepoError> {
        let mut update = categories::Entity::update_many()
            .col_expr(
                categories::Column::Version,
                Expr::col(categories::Column::Version).add(1),
            )
            .col_expr(categories::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(categories::Column::Id.eq(id))
            .filter(categories::Column::Version.eq(expected_version));
        if let Some(name) = &changes.name {
            update = update.col_expr(categories::Column::Name, Expr::value(name.as_str()));
        }
        if let Some(slug) = &changes.slug {
            update = update.col_expr(categories::Column::Slug, Expr::value(slug.as_str()));
        }
        if let Some(parent_id) = changes.parent_id {
            update = update.col_expr(categories::Column::ParentId, Expr::value(parent_id));
        }
        let row = versioned_update(self, update, id, expected_version, |row| row.version).await?;
        Category::try_from(row)
    }

    async fn delete_category(&self, id: Uuid, expected_version: i64) -> Result<(), RepoError> {
        use crate::entities::products as p;
        let used_by_products = Query::select()
            .expr(Expr::val(1))
            .from(p::Entity)
            .and_where(Expr::col((p::Entity, p::Column::CategoryId)).eq(id))
            .to_owned();
        let used_by_children = Query::select()
            .expr(Expr::val(1))
            .from_as(categories::Entity, Child::Table)
            .and_where(Expr::col((Child::Table, categories::Column::ParentId)).eq(id))
            .to_owned();
        let delete = categories::Entity::delete_many()
            .filter(categories::Column::Id.eq(id))
            .filter(categories::Column::Version.eq(expected_version))
            .filter(Expr::exists(used_by_products).not())
            .filter(Expr::exists(used_by_children).not());
        versioned_delete(
            self,
            delete,
            id,
            expected_version,
            categories::Column::Version,
        )
        .await
    }

    async fn create_product(&self, product: NewProduct) -> Result<Product, RepoError> {
        products::create(self, product).await
    }

    async fn find_product(&self, key: ProductKey) -> Result<Product, RepoError> {
        products::find(&self.db, key).await
    }

    async fn list_products(
        &self,
        filter: ProductFilter,
        sort: Sort<ProductSortField>,
        page: PageRequest,
    ) -> Result<Page<Product>, RepoError> {
        products::list(self, filter, sort, page).await
    }

    async fn update_product(
        &self,
        id: Uuid,
        changes: ProductChanges,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<Product, RepoError> {
        products::update(self, id, changes, expected_version, now).await
    }

    async fn delete_product(&self, id: Uuid, expected_version: i64) -> Result<(), RepoError> {
        products::delete(self, id, expected_version).await
    }

    async fn version(&self) -> Result<i64, RepoError> {
        read_version(&self.db, &self.version).await
    }
}

/// The alias of `categories` in the sub-category guard.
#[derive(DeriveIden)]
enum Child {
    #[sea_orm(iden = "child")]
    Table,
}
