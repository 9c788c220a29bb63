//! `/api/v1/products`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::catalog::{
    Currency, Price, Product, ProductChanges, ProductFilter, ProductKey, ProductSortField, Slug,
    StockQuantity,
};
use strata_domain::items::{Description, Title};
use strata_domain::page::Page;
use strata_service::ProductDraft;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::cache::CatalogCache;
use super::required_if_match;
use crate::AppState;
use crate::conditional::{IfNoneMatchParam, Validators, private_json, to_json};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, MaybeAuthenticated, ValidatedJson};
use crate::page::{PageResponse, etag, page_request};
use crate::validation;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    pub id: Uuid,
    #[schema(example = "Blue mug")]
    pub name: String,
    #[schema(example = "blue-mug")]
    pub slug: String,
    pub description: Option<String>,
    /// In minor units of `currency` (cents for EUR): 1250 is €12.50.
    #[schema(example = 1250, minimum = 0, maximum = 1000000000000_i64)]
    pub price: i64,
    /// ISO 4217.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: String,
    #[schema(minimum = 0)]
    pub stock_quantity: i64,
    pub category_id: Uuid,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Product> for ProductResponse {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id,
            name: p.name.as_str().to_owned(),
            slug: p.slug.as_str().to_owned(),
            description: p.description.as_ref().map(|d| d.as_str().to_owned()),
            price: p.price.minor_units(),
            currency: p.currency.as_str().to_owned(),
            stock_quantity: p.stock_quantity.units(),
            category_id: p.category_id,
            is_active: p.is_active,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000, default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
    /// `price`, `name` or `created_at` (default `-created_at`); `-` prefix
    /// for descending.
    #[param(pattern = "^-?(price|name|created_at)$")]
    pub sort: Option<String>,
    /// Case-insensitive text searched in name and description.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub q: Option<String>,
    /// Only this category's products (its id).
    pub category: Option<Uuid>,
    /// Lowest price, in minor units.
    #[param(minimum = 0, maximum = 1000000000000_i64)]
    pub min_price: Option<i64>,
    /// Highest price, in minor units; not below `min_price`.
    #[param(minimum = 0, maximum = 1000000000000_i64)]
    pub max_price: Option<i64>,
    /// `true`: in stock only; `false`: sold out only.
    pub in_stock: Option<bool>,
    /// Default `true`. `false` lists inactive products: admins only (403).
    pub is_active: Option<bool>,
}

impl ProductListQuery {
    fn filter(&self) -> Result<ProductFilter, ApiError> {
        Ok(ProductFilter::parse(
            self.is_active,
            self.category,
            self.q.as_deref(),
            self.min_price,
            self.max_price,
            self.in_stock,
        )?)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    #[schema(
        example = "Blue mug",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// Derived from the name when absent.
    #[schema(
        example = "blue-mug",
        min_length = 1,
        max_length = 100,
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"
    )]
    pub slug: Option<String>,
    #[schema(
        max_length = 10000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: Option<String>,
    /// Minor units of `currency`.
    #[schema(example = 1250, minimum = 0, maximum = 1000000000000_i64)]
    pub price: i64,
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: String,
    #[schema(example = 10, minimum = 0, maximum = 1000000000)]
    pub stock_quantity: i64,
    pub category_id: Uuid,
    /// Default `true`.
    pub is_active: Option<bool>,
}

/// A partial update; `description: null` clears it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "validation::double_option")]
    #[schema(value_type = Option<String>, max_length = 10000, pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$")]
    pub description: Option<Option<String>>,
    #[schema(minimum = 0, maximum = 1000000000000_i64)]
    pub price: Option<i64>,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    #[schema(minimum = 0, maximum = 1000000000)]
    pub stock_quantity: Option<i64>,
    pub category_id: Option<Uuid>,
    pub is_active: Option<bool>,
}

fn description(errors: &mut ValidationErrors, raw: Option<String>) -> Option<Option<Description>> {
    match raw {
        Some(d) => errors
            .check("description", Description::parse(&d))
            .map(Some),
        None => Some(None),
    }
}

impl CreateProductRequest {
    fn try_into_domain(self) -> Result<ProductDraft, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = e.check("name", Title::parse(&self.name));
        let slug = match self.slug {
            Some(slug) => e.check("slug", Slug::parse(&slug)).map(Some),
            None => Some(None),
        };
        let description = description(&mut e, self.description);
        let price = e.check("price", Price::parse(self.price));
        let currency = e.check("currency", Currency::parse(&self.currency));
        let stock = e.check("stock_quantity", StockQuantity::parse(self.stock_quantity));
        match (name, slug, description, price, currency, stock) {
            (
                Some(name),
                Some(slug),
                Some(description),
                Some(price),
                Some(currency),
                Some(stock_quantity),
            ) => Ok(ProductDraft {
                name,
                slug,
                description,
                price,
                currency,
                stock_quantity,
                category_id: self.category_id,
                is_active: self.is_active.unwrap_or(true),
            }),
            _ => Err(e),
        }
    }
}

impl UpdateProductRequest {
    fn try_into_domain(self) -> Result<ProductChanges, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = self.name.and_then(|n| e.check("name", Title::parse(&n)));
        let slug = self.slug.and_then(|s| e.check("slug", Slug::parse(&s)));
        let description = match self.description {
            None => None,
            Some(raw) => description(&mut e, raw),
        };
        let price = self.price.and_then(|p| e.check("price", Price::parse(p)));
        let currency = self
            .currency
            .and_then(|c| e.check("currency", Currency::parse(&c)));
        let stock_quantity = self
            .stock_quantity
            .and_then(|s| e.check("stock_quantity", StockQuantity::parse(s)));
        e.into_result()?;
        Ok(ProductChanges {
            name,
            slug,
            description,
            price,
            currency,
            stock_quantity,
            category_id: self.category_id,
            is_active: self.is_active,
        })
    }
}

fn product_response(mut builder: actix_web::HttpResponseBuilder, p: &Product) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(p.version)))
        .json(ProductResponse::from(p))
}

/// Products for sale, filtered and sorted; admins may list inactive ones.
#[utoipa::path(
    tag = "catalog",
    security((), ("bearer" = [])),
    params(ProductListQuery, IfNoneMatchParam),
    responses(
        (status = 200, body = PageResponse<ProductResponse>, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))),
        (status = 403, description = "`is_active=false` without being an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/products")]
pub async fn list_products(
    state: web::Data<AppState>,
    cache: web::Data<CatalogCache>,
    req: HttpRequest,
    caller: MaybeAuthenticated,
    query: web::Query<ProductListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::default();
    let page = page_request(query.limit, query.offset, &mut errors);
    let sort = match query.sort.as_deref() {
        Some(raw) => errors.check("sort", strata_domain::page::Sort::parse(raw)),
        None => Some(strata_domain::page::Sort::<ProductSortField>::default()),
    };
    let filter = query.filter();
    let (Some(page), Some(sort)) = (page, sort) else {
        return Err(errors.into());
    };
    let filter = filter?;
    let as_json =
        |products: Page<Product>| PageResponse::from_page(products, |p| ProductResponse::from(&p));
    if !filter.is_active {
        // Inactive products: admins only (the service answers 403 to
        // others), so never stored or answered as public.
        let products = state
            .catalog
            .list_products(caller.0, filter, sort, page)
            .await?;
        return private_json(&req, &as_json(products), None);
    }
    // What anyone may see: the same page for every caller, so it is cached.
    let catalog = &state.catalog;
    cache
        .page(&state, &req, move || async move {
            let products = catalog.list_products(None, filter, sort, page).await?;
            to_json(&as_json(products))
        })
        .await
}

/// Create a product (admins).
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateProductRequest,
    responses(
        (status = 201, body = ProductResponse, headers(("Location" = String), ("ETag" = String))),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`SLUG_TAKEN`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/products")]
pub async fn create_product(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ValidatedJson<CreateProductRequest>,
) -> Result<HttpResponse, ApiError> {
    let draft = body.0.try_into_domain()?;
    let product = state.catalog.create_product(&caller.0, draft).await?;
    Ok(product_response(
        crate::created(format!("/api/v1/products/{}", product.id)),
        &product,
    ))
}

/// One product by id or slug, with its `ETag`. An inactive product is 404
/// except for admins.
#[utoipa::path(
    tag = "catalog",
    security((), ("bearer" = [])),
    params(("id_or_slug" = String, Path, description = "A product id (UUID) or slug", max_length = 100), IfNoneMatchParam),
    responses((status = 200, body = ProductResponse, headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))))
)]
#[get("/products/{id_or_slug}")]
pub async fn get_product(
    state: web::Data<AppState>,
    cache: web::Data<CatalogCache>,
    req: HttpRequest,
    caller: MaybeAuthenticated,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // Nothing but an id or a valid slug can name a product.
    let key = ProductKey::parse(&key).map_err(|_| ApiError::NotFound("Product"))?;
    let product = state.catalog.get_product(caller.0, key).await?;
    let etag = etag(product.version);
    // An inactive product is shown to admins only: never to a shared cache.
    let validators = if product.is_active {
        cache.public(etag)
    } else {
        Validators::private(etag)
    };
    Ok(validators.answer(&req, to_json(&ProductResponse::from(&product))?))
}

/// Partially update a product (admins); `If-Match` is required.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id_or_slug" = Uuid, Path, description = "The product's id"), ("If-Match" = String, Header, pattern = "^\"[0-9]+\"$", description = "The ETag of the version this update replaces")),
    request_body = UpdateProductRequest,
    responses(
        (status = 200, body = ProductResponse, headers(("ETag" = String))),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`SLUG_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is stale (orders move the stock, and so the ETag); nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "`PRECONDITION_REQUIRED`: no `If-Match`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/products/{id_or_slug}")]
pub async fn update_product(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: ValidatedJson<UpdateProductRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.0.try_into_domain()?;
    let expected = required_if_match(&req);
    let product = state
        .catalog
        .update_product(&caller.0, id.into_inner(), changes, expected)
        .await?;
    Ok(product_response(HttpResponse::Ok(), &product))
}

/// Delete a product that was never ordered (admins); deactivate others.
#[utoipa::path(
    tag = "catalog",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id_or_slug" = Uuid, Path, description = "The product's id"), ("If-Match" = String, Header, pattern = "^\"[0-9]+\"$", description = "The ETag of the version to delete")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: the product has been ordered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is stale; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "`PRECONDITION_REQUIRED`: no `If-Match`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/products/{id_or_slug}")]
pub async fn delete_product(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let expected = required_if_match(&req);
    state
        .catalog
        .delete_product(&caller.0, id.into_inner(), expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
