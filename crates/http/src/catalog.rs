//! `/api/v1/categories` and `/api/v1/products`: public reads, cached and
//! revalidated (`catalog/cache.rs`), admin writes with `If-Match` (required:
//! 428 without it). Products are in `catalog/products.rs`.

mod cache;
mod products;

pub use cache::{CatalogCache, CatalogCacheSettings};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::catalog::{Category, CategoryChanges, Slug};
use strata_domain::items::Title;
use strata_service::CategoryDraft;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::conditional::{IfNoneMatchParam, to_json};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::page::{PageResponse, etag, if_match, page_request};
use crate::validation;

pub use products::ProductResponse;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_categories)
        .service(create_category)
        .service(get_category)
        .service(update_category)
        .service(delete_category)
        .service(products::list_products)
        .service(products::create_product)
        .service(products::get_product)
        .service(products::update_product)
        .service(products::delete_product);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryResponse {
    pub id: Uuid,
    #[schema(example = "Kitchen")]
    pub name: String,
    #[schema(example = "kitchen")]
    pub slug: String,
    /// The parent category; `null` at the top level.
    pub parent_id: Option<Uuid>,
}

impl From<&Category> for CategoryResponse {
    fn from(category: &Category) -> Self {
        Self {
            id: category.id,
            name: category.name.as_str().to_owned(),
            slug: category.slug.as_str().to_owned(),
            parent_id: category.parent_id,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000, default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategoryRequest {
    #[schema(
        example = "Kitchen",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// Derived from the name when absent (`Crème brûlée` → `creme-brulee`).
    #[schema(
        example = "kitchen",
        min_length = 1,
        max_length = 100,
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"
    )]
    pub slug: Option<String>,
    pub parent_id: Option<Uuid>,
}

/// A partial update; `parent_id: null` moves it to the top level.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCategoryRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "validation::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

impl CreateCategoryRequest {
    fn try_into_domain(self) -> Result<CategoryDraft, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = errors.check("name", Title::parse(&self.name));
        let slug = match self.slug {
            Some(slug) => errors.check("slug", Slug::parse(&slug)).map(Some),
            None => Some(None),
        };
        match (name, slug) {
            (Some(name), Some(slug)) => Ok(CategoryDraft {
                name,
                slug,
                parent_id: self.parent_id,
            }),
            _ => Err(errors),
        }
    }
}

impl UpdateCategoryRequest {
    fn try_into_domain(self) -> Result<CategoryChanges, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = self
            .name
            .and_then(|n| errors.check("name", Title::parse(&n)));
        let slug = self
            .slug
            .and_then(|s| errors.check("slug", Slug::parse(&s)));
        errors.into_result()?;
        Ok(CategoryChanges {
            name,
            slug,
            parent_id: self.parent_id,
        })
    }
}

fn category_response(mut builder: actix_web::HttpResponseBuilder, c: &Category) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(c.version)))
        .json(CategoryResponse::from(c))
}

/// Every category, by name; cached and revalidated by the catalog version.
#[utoipa::path(
    tag = "catalog",
    params(CategoryListQuery, IfNoneMatchParam),
    responses((status = 200, body = PageResponse<CategoryResponse>, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))))
)]
#[get("/categories")]
pub async fn list_categories(
    state: web::Data<AppState>,
    cache: web::Data<CatalogCache>,
    req: HttpRequest,
    query: web::Query<CategoryListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::default();
    let page = page_request(query.limit, query.offset, &mut errors).ok_or(errors)?;
    let catalog = &state.catalog;
    cache
        .page(&state, &req, move || async move {
            let categories = catalog.list_categories(page).await?;
            to_json(&PageResponse::from_page(categories, |c| {
                CategoryResponse::from(&c)
            }))
        })
        .await
}

/// Create a category (admins).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateCategoryRequest,
    responses(
        (status = 201, body = CategoryResponse, headers(("Location" = String), ("ETag" = String))),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`SLUG_TAKEN`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/categories")]
pub async fn create_category(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ValidatedJson<CreateCategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    let draft = body.0.try_into_domain()?;
    let category = state.catalog.create_category(&caller.0, draft).await?;
    Ok(category_response(
        crate::created(format!("/api/v1/categories/{}", category.id)),
        &category,
    ))
}

/// One category, with its `ETag`.
#[utoipa::path(
    tag = "catalog",
    params(("id" = Uuid, Path), IfNoneMatchParam),
    responses((status = 200, body = CategoryResponse, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))))
)]
#[get("/categories/{id}")]
pub async fn get_category(
    state: web::Data<AppState>,
    cache: web::Data<CatalogCache>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let category = state.catalog.get_category(id.into_inner()).await?;
    let body = to_json(&CategoryResponse::from(&category))?;
    Ok(cache.public(etag(category.version)).answer(&req, body))
}

/// Partially update a category (admins); `If-Match` is required.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path), ("If-Match" = String, Header, pattern = "^\"[0-9]+\"$", description = "The ETag of the version this update replaces")),
    request_body = UpdateCategoryRequest,
    responses(
        (status = 200, body = CategoryResponse, headers(("ETag" = String))),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`SLUG_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is stale; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "`PRECONDITION_REQUIRED`: no `If-Match`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/categories/{id}")]
pub async fn update_category(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: ValidatedJson<UpdateCategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.0.try_into_domain()?;
    let expected = required_if_match(&req);
    let category = state
        .catalog
        .update_category(&caller.0, id.into_inner(), changes, expected)
        .await?;
    Ok(category_response(HttpResponse::Ok(), &category))
}

/// Delete a category (admins) that no product or sub-category uses.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path), ("If-Match" = String, Header, pattern = "^\"[0-9]+\"$", description = "The ETag of the version to delete")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: products or sub-categories still refer to it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is stale; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "`PRECONDITION_REQUIRED`: no `If-Match`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/categories/{id}")]
pub async fn delete_category(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let expected = required_if_match(&req);
    state
        .catalog
        .delete_category(&caller.0, id.into_inner(), expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The version `If-Match` names, for the service to require and compare.
/// A tag no version could match becomes version 0, which no row has
/// (versions start at 1): the service then answers as for any stale tag
/// (412), after deciding who may write at all (403) and what exists (404).
/// `*` names no version: these writes need a real tag (else 428).
pub(crate) fn required_if_match(req: &HttpRequest) -> Option<i64> {
    if_match(req).unwrap_or(Some(0))
}
