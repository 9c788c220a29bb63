//! Owner-scoped items, stored in `items`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DeriveIden, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select,
};
use strata_domain::RepoError;
use strata_domain::idempotency::Completion;
use strata_domain::items::{
    Description, Item, ItemChanges, ItemFilter, ItemRepository, ItemSortField, NewItem, Title,
};
use strata_domain::page::{After, Page, PageRequest, Sort};
use uuid::Uuid;

use crate::counts::CountCache;
use crate::entities::items;
use crate::error::DbResultExt;
use crate::idempotency;
use crate::query::{after_row, count, invalid_row, lower_contains, micros, order, paged};
use crate::tx::WriteGate;

/// [`ItemRepository`] over sea-orm. The owner's foreign key (with `ON DELETE
/// CASCADE`) makes an item of a missing owner impossible and takes items
/// along when their owner's account is deleted.
#[derive(Debug, Clone)]
pub struct SeaItemRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
    /// List totals, reused until the next write (see [`CountCache`]).
    totals: Arc<CountCache<ItemFilter>>,
}

impl SeaItemRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self {
            db,
            writes,
            totals: Arc::default(),
        }
    }
}

impl TryFrom<items::Model> for Item {
    type Error = RepoError;

    fn try_from(row: items::Model) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(Item {
            id,
            title: Title::parse(&row.title).map_err(|v| invalid_row("items", id, "title", v))?,
            description: row
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()
                .map_err(|v| invalid_row("items", id, "description", v))?,
            owner_id: row.owner_id,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Rows per INSERT of a batch: 7 values each stays far below SQLite's
/// 32,766 bound parameters and PostgreSQL's 65,535.
const BATCH_ROWS: usize = 1000;

/// The stored row of a new item, at version 1.
fn new_row(item: &NewItem) -> items::ActiveModel {
    let created_at = micros(item.created_at);
    items::ActiveModel {
        id: Set(item.id),
        owner_id: Set(item.owner_id),
        title: Set(item.title.as_str().to_owned()),
        description: Set(item.description.as_ref().map(|d| d.as_str().to_owned())),
        version: Set(1),
        created_at: Set(created_at),
        updated_at: Set(created_at),
    }
}

/// Items matching every given filter.
fn filtered(backend: DbBackend, filter: &ItemFilter) -> Select<items::Entity> {
    let mut select = items::Entity::find();
    if let Some(owner_id) = filter.owner_id {
        select = select.filter(items::Column::OwnerId.eq(owner_id));
    }
    if let Some(q) = filter.q.as_deref() {
        select = select.filter(
            Condition::any()
                .add(lower_contains(backend, items::Column::Title, q))
                .add(lower_contains(backend, items::Column::Description, q)),
        );
    }
    select
}

/// `item_counts`: each owner's items (spread over a few rows), kept by the
/// triggers of migration 16 in every transaction that adds or removes items.
#[derive(DeriveIden)]
enum ItemCounts {
    Table,
    OwnerId,
}

/// How many items `filter` matches: for one owner's whole list, the count
/// the triggers keep (a short primary-key range; a `COUNT(*)` over 10,000 items
/// took 1.2 ms on PostgreSQL); for a search, or across owners, a `COUNT(*)`.
async fn count_items(
    db: &DatabaseConnection,
    filter: &ItemFilter,
    select: &Select<items::Entity>,
) -> Result<u64, RepoError> {
    const CONTEXT: &str = "Failed to count items";
    let (Some(owner_id), None) = (filter.owner_id, &filter.q) else {
        return select.clone().count(db).await.or_repo(CONTEXT);
    };
    // The owner's shards (see migration 16); no row at all when the owner
    // never had an item. PostgreSQL sums bigints as numeric: cast back.
    let query = Query::select()
        .expr(Expr::cust("CAST(SUM(items) AS BIGINT)"))
        .from(ItemCounts::Table)
        .and_where(Expr::col(ItemCounts::OwnerId).eq(owner_id))
        .to_owned();
    let sum: Option<i64> = match db.query_one(&query).await.or_repo(CONTEXT)? {
        Some(row) => row.try_get_by_index(0).or_repo(CONTEXT)?,
        None => None,
    };
    Ok(count(sum.unwrap_or(0)))
}

fn sort_column(field: ItemSortField) -> items::Column {
    match field {
        ItemSortField::CreatedAt => items::Column::CreatedAt,
        ItemSortField::UpdatedAt => items::Column::UpdatedAt,
        ItemSortField::Title => items::Column::Title,
    }
}

impl SeaItemRepository {
    /// One page, from an offset or (with `after`) from a keyset position.
    async fn page(
        &self,
        filter: ItemFilter,
        sort: Sort<ItemSortField>,
        after: Option<After>,
        page: PageRequest,
    ) -> Result<Page<Item>, RepoError> {
        let select = filtered(self.db.get_database_backend(), &filter);
        let column = sort_column(sort.field);
        // Ties broken by id in the same direction: pages stay stable, and
        // the index (filter, sort key, id) serves the order without a sort.
        let direction = order(sort.direction);
        let mut rows = select
            .clone()
            .order_by(column, direction.clone())
            .order_by(items::Column::Id, direction)
            .limit(page.limit());
        rows = match &after {
            Some(after) => rows.filter(after_row(column, items::Column::Id, sort.direction, after)),
            None => rows.offset(page.offset()),
        };
        let rows = rows.all(&self.db).await.or_repo("Failed to list items")?;
        let counted = self.totals.count_with(
            &self.writes,
            &filter,
            count_items(&self.db, &filter, &select),
        );
        let items = rows
            .into_iter()
            .map(Item::try_from)
            .collect::<Result<_, _>>()?;
        paged(page, after.is_some(), items, counted).await
    }
}

#[async_trait]
impl ItemRepository for SeaItemRepository {
    async fn create_keyed(
        &self,
        item: NewItem,
        once: Option<Completion<Item>>,
    ) -> Result<Item, RepoError> {
        let created_at = micros(item.created_at);
        let row = new_row(&item);
        // A missing owner breaks the foreign key: NotFound.
        let insert = items::Entity::insert(row).build(self.db.get_database_backend());
        let created = Item {
            id: item.id,
            title: item.title,
            description: item.description,
            owner_id: item.owner_id,
            version: 1,
            created_at,
            updated_at: created_at,
        };
        let Some(once) = once else {
            self.writes
                .execute(&self.db, insert, "Failed to insert item")
                .await?;
            return Ok(created);
        };
        self.writes
            .grouped(&self.db, move |txn| {
                Box::pin(async move {
                    txn.execute_raw(insert)
                        .await
                        .or_repo("Failed to insert item")?;
                    idempotency::complete(txn, Some(once), &created).await?;
                    Ok(created)
                })
            })
            .await
    }

    async fn create_batch(&self, batch: Vec<NewItem>) -> Result<u64, RepoError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let rows: Vec<items::ActiveModel> = batch.iter().map(new_row).collect();
        // Held until the commit, which also tells the list totals (see
        // `CountCache`) that the file changed.
        // An id already present is skipped rather than failing the batch, so
        // a repeated batch inserts only what is new. A missing owner still
        // breaks the foreign key: NotFound, and the transaction takes the
        // whole batch back.
        let txn = self.writes.begin(&self.db).await?;
        let mut inserted = 0;
        for chunk in rows.chunks(BATCH_ROWS) {
            inserted += items::Entity::insert_many(chunk.iter().cloned())
                .on_conflict(
                    OnConflict::column(items::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .or_repo("Failed to insert items")?;
        }
        txn.commit().await.or_repo("Failed to commit items")?;
        Ok(inserted)
    }

    async fn find(&self, id: Uuid) -> Result<Item, RepoError> {
        items::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .or_repo("Failed to load item")?
            .ok_or(RepoError::NotFound)
            .and_then(Item::try_from)
    }

    async fn list(
        &self,
        filter: ItemFilter,
        sort: Sort<ItemSortField>,
        page: PageRequest,
    ) -> Result<Page<Item>, RepoError> {
        self.page(filter, sort, None, page).await
    }

    async fn list_after(
        &self,
        filter: ItemFilter,
        sort: Sort<ItemSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Item>, RepoError> {
        self.page(filter, sort, Some(after), page).await
    }

    async fn update(
        &self,
        id: Uuid,
        changes: ItemChanges,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Item, RepoError> {
        let mut update = items::Entity::update_many()
            .col_expr(
                items::Column::Version,
                Expr::col(items::Column::Version).add(1),
            )
            .col_expr(items::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(items::Column::Id.eq(id));
        // The version guard is the compare-and-set: of two updates with the
        // same precondition, the second finds the version already moved on.
        if let Some(expected) = expected_version {
            update = update.filter(items::Column::Version.eq(expected));
        }
        if let Some(title) = &changes.title {
            update = update.col_expr(items::Column::Title, Expr::value(title.as_str()));
        }
        if let Some(description) = &changes.description {
            let value = description.as_ref().map(|d| d.as_str().to_owned());
            update = update.col_expr(items::Column::Description, Expr::value(value));
        }

        // Update and read back in one transaction so the caller gets exactly
        // the row (and version) its write produced.
        let row = self
            .writes
            .grouped(&self.db, move |txn| {
                Box::pin(async move {
                    let result = update.exec(txn).await.or_repo("Failed to update item")?;
                    let row = items::Entity::find_by_id(id)
                        .one(txn)
                        .await
                        .or_repo("Failed to load updated item")?;
                    match row {
                        Some(row) if result.rows_affected > 0 => Ok(row),
                        // Nothing changed; the read only tells why.
                        Some(_) => Err(RepoError::VersionMismatch),
                        None => Err(RepoError::NotFound),
                    }
                })
            })
            .await?;
        Item::try_from(row)
    }

    async fn delete(&self, id: Uuid) -> Result<(), RepoError> {
        let delete = items::Entity::delete_by_id(id).build(self.db.get_database_backend());
        let result = self
            .writes
            .execute(&self.db, delete, "Failed to delete item")
            .await?;
        if result.rows_affected() == 0 {
            return Err(RepoError::NotFound);
        }
        Ok(())
    }
}
