//! Items: the caller's own (an admin's: everyone's). Another user's item is
//! `null` to read and `NOT_FOUND` to change, as it is a 404 on `/api/v1`.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use strata_domain::ValidationErrors;
use strata_domain::items::{Description, Item, ItemChanges, ItemSortField};
use strata_domain::page::{Sort, text_filter};
use strata_service::ItemDraft;
use uuid::Uuid;

use crate::context::{caller, services, writer};
use crate::error;
use crate::page::{self, PageOf};

/// An item; `version` is what `expectedVersion` names.
#[derive(Debug)]
pub(crate) struct ItemObject(pub Item);

#[Object(name = "Item")]
impl ItemObject {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn title(&self) -> &str {
        self.0.title.as_str()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_ref().map(Description::as_str)
    }
    async fn owner_id(&self) -> Uuid {
        self.0.owner_id
    }
    /// Incremented by every update: pass it as `expectedVersion` to change
    /// the item only if nobody changed it since.
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
pub struct ItemsQuery;

#[Object]
impl ItemsQuery {
    /// The caller's items, newest first unless `sort` says otherwise
    /// (`title`, `created_at`, `updated_at`, `-` for descending). An admin
    /// sees everyone's, or one owner's with `ownerId`.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        owner_id: Option<Uuid>,
        q: Option<String>,
        sort: Option<String>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<ItemObject>> {
        let caller = caller(ctx)?;
        let page = page::request(limit, offset)?;
        let sort = sort_of(sort.as_deref())?;
        let q = text_filter(q.as_deref())
            .map_err(|v| error::validation(ValidationErrors::single("q", v)))?;
        let items = services(ctx)?
            .items
            .list(&caller, owner_id, q, sort, page)
            .await
            .map_err(error::service)?;
        Ok(PageOf::from_page(items, ItemObject))
    }

    /// One of the caller's items; `null` when there is none by that id
    /// that the caller may see.
    async fn item(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<ItemObject>> {
        let caller = caller(ctx)?;
        match services(ctx)?.items.get(&caller, id).await {
            Ok(item) => Ok(Some(ItemObject(item))),
            Err(strata_service::ServiceError::NotFound) => Ok(None),
            Err(err) => Err(error::service(err)),
        }
    }
}

fn sort_of(raw: Option<&str>) -> Result<Sort<ItemSortField>> {
    raw.map_or_else(
        || Ok(Sort::default()),
        |raw| Sort::parse(raw).map_err(|v| error::validation(ValidationErrors::single("sort", v))),
    )
}

#[derive(Debug, InputObject)]
struct CreateItemInput {
    title: String,
    description: Option<String>,
}

/// Absent fields stay as they are; a `null` description removes it.
#[derive(Debug, InputObject)]
struct UpdateItemInput {
    title: Option<String>,
    description: MaybeUndefined<String>,
}

#[derive(Debug, Default)]
pub struct ItemsMutation;

#[Object]
impl ItemsMutation {
    /// Creates an item owned by the caller.
    async fn create_item(&self, ctx: &Context<'_>, input: CreateItemInput) -> Result<ItemObject> {
        let caller = writer(ctx).await?;
        let draft = ItemDraft::parse(&input.title, input.description.as_deref())
            .map_err(error::validation)?;
        services(ctx)?
            .items
            .create(&caller, draft, None)
            .await
            .map(ItemObject)
            .map_err(error::service)
    }

    /// Changes an item; with `expectedVersion`, only if it is still at that
    /// version (else `PRECONDITION_FAILED`, and nothing changed).
    async fn update_item(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateItemInput,
        expected_version: Option<i64>,
    ) -> Result<ItemObject> {
        let caller = writer(ctx).await?;
        let changes = ItemChanges::parse(input.title.as_deref(), input.description.as_opt_deref())
            .map_err(error::validation)?;
        services(ctx)?
            .items
            .update(&caller, id, changes, expected_version)
            .await
            .map(ItemObject)
            .map_err(error::service)
    }

    /// Deletes an item; `true` once it is gone.
    async fn delete_item(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        let caller = writer(ctx).await?;
        services(ctx)?
            .items
            .delete(&caller, id)
            .await
            .map_err(error::service)?;
        Ok(true)
    }
}
