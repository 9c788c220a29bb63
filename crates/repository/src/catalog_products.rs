//! The product half of [`SeaCatalogRepository`]: `products`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use strata_domain::RepoError;
use strata_domain::catalog::{
    Currency, NewProduct, Price, Product, ProductChanges, ProductFilter, ProductKey,
    ProductSortField, Slug, StockQuantity,
};
use strata_domain::items::{Description, Title};
use strata_domain::page::{Page, PageRequest, Sort};
use uuid::Uuid;

use crate::catalog::{SeaCatalogRepository, versioned_delete, versioned_update};
use crate::catalog_version::bump_version;
use crate::entities::{order_items, products};
use crate::error::DbResultExt;
use crate::query::{invalid_row, lower_contains, micros, order, paged};

impl TryFrom<products::Model> for Product {
    type Error = RepoError;

    fn try_from(row: products::Model) -> Result<Self, Self::Error> {
        let id = row.id;
        let bad = |column, v| invalid_row("products", id, column, v);
        Ok(Product {
            id,
            name: Title::parse(&row.name).map_err(|v| bad("name", v))?,
            slug: Slug::parse(&row.slug).map_err(|v| bad("slug", v))?,
            description: row
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()
                .map_err(|v| bad("description", v))?,
            price: Price::parse(row.price).map_err(|v| bad("price", v))?,
            currency: Currency::parse(&row.currency).map_err(|v| bad("currency", v))?,
            stock_quantity: StockQuantity::stored(row.stock_quantity)
                .map_err(|v| bad("stock_quantity", v))?,
            category_id: row.category_id,
            is_active: row.is_active,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) async fn create(
    repo: &SeaCatalogRepository,
    new: NewProduct,
) -> Result<Product, RepoError> {
    let created_at = micros(new.created_at);
    let row = products::ActiveModel {
        id: Set(new.id),
        name: Set(new.name.as_str().to_owned()),
        slug: Set(new.slug.as_str().to_owned()),
        description: Set(new.description.as_ref().map(|d| d.as_str().to_owned())),
        price: Set(new.price.minor_units()),
        currency: Set(new.currency.as_str().to_owned()),
        stock_quantity: Set(new.stock_quantity.units()),
        category_id: Set(new.category_id),
        is_active: Set(new.is_active),
        version: Set(1),
        created_at: Set(created_at),
        updated_at: Set(created_at),
    };
    let txn = repo.writes.begin(&repo.db).await?;
    // A missing category breaks the foreign key: NotFound.
    products::Entity::insert(row)
        .exec_without_returning(&txn)
        .await
        .or_repo("Failed to insert product")?;
    let _version = bump_version(&txn, &repo.version).await?;
    txn.commit().await.or_repo("Failed to commit product")?;
    Ok(Product {
        id: new.id,
        name: new.name,
        slug: new.slug,
        description: new.description,
        price: new.price,
        currency: new.currency,
        stock_quantity: new.stock_quantity,
        category_id: new.category_id,
        is_active: new.is_active,
        version: 1,
        created_at,
        updated_at: created_at,
    })
}

pub(crate) async fn find(db: &DatabaseConnection, key: ProductKey) -> Result<Product, RepoError> {
    let select = match &key {
        ProductKey::Id(id) => products::Entity::find_by_id(*id),
        ProductKey::Slug(slug) => {
            products::Entity::find().filter(products::Column::Slug.eq(slug.as_str()))
        }
    };
    select
        .one(db)
        .await
        .or_repo("Failed to load product")?
        .ok_or(RepoError::NotFound)
        .and_then(Product::try_from)
}

/// Products matching every given filter.
fn filtered(backend: DbBackend, filter: &ProductFilter) -> Select<products::Entity> {
    let mut select = products::Entity::find();
    if let Some(category_id) = filter.category_id {
        select = select.filter(products::Column::CategoryId.eq(category_id));
    }
    select = select.filter(products::Column::IsActive.eq(filter.is_active));
    if let Some(min) = filter.min_price {
        select = select.filter(products::Column::Price.gte(min.minor_units()));
    }
    if let Some(max) = filter.max_price {
        select = select.filter(products::Column::Price.lte(max.minor_units()));
    }
    match filter.in_stock {
        Some(true) => select = select.filter(products::Column::StockQuantity.gt(0)),
        Some(false) => select = select.filter(products::Column::StockQuantity.eq(0)),
        None => {}
    }
    if let Some(q) = filter.q.as_deref() {
        select = select.filter(
            Condition::any()
                .add(lower_contains(backend, products::Column::Name, q))
                .add(lower_contains(backend, products::Column::Description, q)),
        );
    }
    select
}

fn sort_column(field: ProductSortField) -> products::Column {
    match field {
        ProductSortField::Price => products::Column::Price,
        ProductSortField::Name => products::Column::Name,
        ProductSortField::CreatedAt => products::Column::CreatedAt,
    }
}

pub(crate) async fn list(
    repo: &SeaCatalogRepository,
    filter: ProductFilter,
    sort: Sort<ProductSortField>,
    page: PageRequest,
) -> Result<Page<Product>, RepoError> {
    let select = filtered(repo.db.get_database_backend(), &filter);
    let direction = order(sort.direction);
    let rows = select
        .clone()
        .order_by(sort_column(sort.field), direction.clone())
        .order_by(products::Column::Id, direction)
        .limit(page.limit())
        .offset(page.offset())
        .all(&repo.db)
        .await
        .or_repo("Failed to list products")?;
    let counted = repo.product_totals.count(
        &repo.writes,
        &filter,
        &select,
        &repo.db,
        "Failed to count products",
    );
    let items = rows
        .into_iter()
        .map(Product::try_from)
        .collect::<Result<_, _>>()?;
    paged(page, false, items, counted).await
}

pub(crate) async fn update(
    repo: &SeaCatalogRepository,
    id: Uuid,
    changes: ProductChanges,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Product, RepoError> {
    use products::Column as C;
    let mut update = products::Entity::update_many()
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(micros(now)))
        .filter(C::Id.eq(id))
        .filter(C::Version.eq(expected_version));
    let ProductChanges {
        name,
        slug,
        description,
        price,
        currency,
        stock_quantity,
        category_id,
        is_active,
    } = changes;
    if let Some(name) = name {
        update = update.col_expr(C::Name, Expr::value(name.as_str()));
    }
    if let Some(slug) = slug {
        update = update.col_expr(C::Slug, Expr::value(slug.as_str()));
    }
    if let Some(description) = description {
        let value = description.as_ref().map(|d| d.as_str().to_owned());
        update = update.col_expr(C::Description, Expr::value(value));
    }
    if let Some(price) = price {
        update = update.col_expr(C::Price, Expr::value(price.minor_units()));
    }
    if let Some(currency) = currency {
        update = update.col_expr(C::Currency, Expr::value(currency.as_str()));
    }
    if let Some(stock) = stock_quantity {
        update = update.col_expr(C::StockQuantity, Expr::value(stock.units()));
    }
    if let Some(category_id) = category_id {
        update = update.col_expr(C::CategoryId, Expr::value(category_id));
    }
    if let Some(is_active) = is_active {
        update = update.col_expr(C::IsActive, Expr::value(is_active));
    }
    let row = versioned_update(repo, update, id, expected_version, |row| row.version).await?;
    Product::try_from(row)
}

pub(crate) async fn delete(
    repo: &SeaCatalogRepository,
    id: Uuid,
    expected_version: i64,
) -> Result<(), RepoError> {
    let ordered = Query::select()
        .expr(Expr::val(1))
        .from(order_items::Entity)
        .and_where(Expr::col((order_items::Entity, order_items::Column::ProductId)).eq(id))
        .to_owned();
    let delete = products::Entity::delete_many()
        .filter(products::Column::Id.eq(id))
        .filter(products::Column::Version.eq(expected_version))
        .filter(Expr::exists(ordered).not());
    versioned_delete(
        repo,
        delete,
        id,
        expected_version,
        products::Column::Version,
    )
    .await
}
