//! `/api/v1/items`: owner-scoped items with ETag preconditions, and their
//! import from CSV files.

mod imports;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::items::{Item, ItemChanges, ItemSortField};
use strata_service::ItemDraft;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::conditional::{IfNoneMatchParam, private_json};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson, Writer};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint_json, once};
use crate::page::{PageResponse, cursor, etag, if_match, keyset_position, list_params, query_text};
use crate::validation;

pub use imports::ImportLimit;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    // Fixed paths first, as for users: `/items/{id}` would capture "imports".
    cfg.service(imports::import_items)
        .service(list_items)
        .service(create_item)
        .service(get_item)
        .service(update_item)
        .service(delete_item);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResponse {
    pub id: Uuid,
    #[schema(example = "Buy milk")]
    pub title: String,
    pub description: Option<String>,
    pub owner_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Item> for ItemResponse {
    fn from(item: &Item) -> Self {
        Self {
            id: item.id,
            title: item.title.as_str().to_owned(),
            description: item.description.as_ref().map(|d| d.as_str().to_owned()),
            owner_id: item.owner_id,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000 (`strata_domain::page::MAX_OFFSET`), default 0. Not
    /// with `cursor`.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
    /// The `next_cursor` of the previous page: the rows after it, in the
    /// same `sort` (which must be sent again), at the cost of the first page
    /// however deep.
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 2048)]
    pub cursor: Option<String>,
    /// `created_at` (default `-created_at`), `updated_at` or `title`; `-` prefix for descending.
    #[param(pattern = "^-?(created_at|updated_at|title)$")]
    pub sort: Option<String>,
    /// Case-insensitive text searched in title and description.
    /// No control characters.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub q: Option<String>,
    /// Admins only: one owner's items.
    pub owner_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItemRequest {
    #[validate(custom(function = "validation::title"))]
    #[schema(
        example = "Buy milk",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub title: String,
    #[validate(custom(function = "validation::description"))]
    #[schema(
        max_length = 10000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: Option<String>,
}

/// A partial update; `description: null` clears it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItemRequest {
    #[validate(custom(function = "validation::title"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "validation::double_option")]
    #[schema(value_type = Option<String>, max_length = 10000, pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$")]
    pub description: Option<Option<String>>,
}

impl CreateItemRequest {
    fn try_into_domain(self) -> Result<ItemDraft, ValidationErrors> {
        ItemDraft::parse(&self.title, self.description.as_deref())
    }
}

impl UpdateItemRequest {
    fn try_into_domain(self) -> Result<ItemChanges, ValidationErrors> {
        ItemChanges::parse(
            self.title.as_deref(),
            self.description.as_ref().map(Option::as_deref),
        )
    }
}

fn item_response(mut builder: actix_web::HttpResponseBuilder, item: &Item) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(item.version)))
        .json(ItemResponse::from(item))
}

/// The caller's items; admins see everyone's and may filter by `owner_id`.
#[utoipa::path(
    tag = "items",
    security(("bearer" = []), ("oauth2" = [])),
    params(ItemListQuery, IfNoneMatchParam),
    responses(
        (status = 200, body = PageResponse<ItemResponse>, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))),
        (status = 403, description = "`owner_id` of another user without being an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/items")]
pub async fn list_items(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authenticated,
    query: web::Query<ItemListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let (page, sort) =
        list_params::<ItemSortField>(query.limit, query.offset, query.sort.as_deref())?;
    let after = keyset_position(query.cursor.as_deref(), query.offset, sort)?;
    let q = query_text("q", query.q.as_deref())?;
    let items = match after {
        Some(after) => {
            state
                .items
                .list_after(&caller.0, query.owner_id, q, sort, after, page)
                .await?
        }
        None => {
            state
                .items
                .list(&caller.0, query.owner_id, q, sort, page)
                .await?
        }
    };
    let page = PageResponse::from_page(items, |i| ItemResponse::from(&i));
    let page = page.with_next_cursor(|last| {
        let value = sort
            .field
            .value_of(last.created_at, last.updated_at, &last.title);
        cursor::encode(sort, &value, last.id)
    });
    private_json(&req, &page, None)
}

/// Create an item owned by the caller.
#[utoipa::path(
    tag = "items",
    security(("bearer" = []), ("oauth2" = [])),
    params(IdempotencyKeyParam),
    request_body = CreateItemRequest,
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = ItemResponse, headers(("Location" = String), ("ETag" = String))),
    )
)]
#[post("/items")]
pub async fn create_item(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Writer,
    key: KeyHeader,
    body: ValidatedJson<CreateItemRequest>,
) -> Result<HttpResponse, ApiError> {
    let keyed = key.with(|| fingerprint_json(&req, &body.0));
    let draft = body.0.try_into_domain()?;
    once(
        &state.idempotency,
        &caller.0,
        keyed,
        |item: &Item| item_response(crate::created(format!("/api/v1/items/{}", item.id)), item),
        |once| state.items.create(&caller.0, draft, once),
    )
    .await
}

/// One item, with its `ETag`. Another user's item is 404, never 403.
#[utoipa::path(
    tag = "items",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path), IfNoneMatchParam),
    responses(
        (status = 200, body = ItemResponse, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))),
        (status = 404, description = "No such item, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/items/{id}")]
pub async fn get_item(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let item = state.items.get(&caller.0, id.into_inner()).await?;
    private_json(&req, &ItemResponse::from(&item), Some(etag(item.version)))
}

/// Partially update an item. With `If-Match`, only if it is unchanged since.
#[utoipa::path(
    tag = "items",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "An ETag from a previous read")),
    request_body = UpdateItemRequest,
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 200, body = ItemResponse, headers(("ETag" = String))),
        (status = 404, description = "No such item, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is stale; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/items/{id}")]
pub async fn update_item(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
    body: ValidatedJson<UpdateItemRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // The body is judged first: a bad one is 422 whoever owns the item.
    let changes = body.0.try_into_domain()?;
    let expected = match if_match(&req) {
        Ok(expected) => expected,
        Err(stale) => {
            // A tag no version could match is 412 only for someone who may
            // see the item: anyone else hears 404, as for a missing one.
            state.items.get(&caller.0, id).await?;
            return Err(stale);
        }
    };
    let item = state.items.update(&caller.0, id, changes, expected).await?;
    Ok(item_response(HttpResponse::Ok(), &item))
}

/// Delete an item.
#[utoipa::path(
    tag = "items",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such item, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/items/{id}")]
pub async fn delete_item(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.items.delete(&caller.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
