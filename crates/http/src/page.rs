//! List plumbing shared by every collection endpoint: `limit`/`offset`/`sort`
//! parsing and the page envelope. Also the `ETag`/`If-Match` helpers.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use serde::Serialize;
use strata_domain::ValidationErrors;
use strata_domain::page::{Page, PageRequest, Sort, SortField, search_text};
use strata_domain::text::{self, Lines};
use utoipa::ToSchema;

use crate::error::ApiError;

/// `{"items": [...], "total": N, "limit": L, "offset": O}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse<T> {
    pub items: Vec<T>,
    /// Rows matching the filters, across all pages.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

impl<T> PageResponse<T> {
    pub fn from_page<D>(page: Page<D>, f: impl FnMut(D) -> T) -> Self {
        let page = page.map(f);
        Self {
            items: page.items,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// Parses `limit`, `offset` and `sort`, reporting every bad one at once.
///
/// # Errors
/// 422 naming each invalid parameter (`limit=1000` is refused, not capped).
pub fn list_params<F: SortField>(
    limit: Option<i64>,
    offset: Option<i64>,
    sort: Option<&str>,
) -> Result<(PageRequest, Sort<F>), ApiError>
where
    Sort<F>: Default,
{
    let mut errors = ValidationErrors::default();
    let page = page_request(limit, offset, &mut errors);
    let sort = match sort {
        Some(raw) => errors.check("sort", Sort::<F>::parse(raw)),
        None => Some(Sort::default()),
    };
    match (page, sort) {
        (Some(page), Some(sort)) => Ok((page, sort)),
        _ => Err(errors.into()),
    }
}

/// Parses `limit` and `offset` for a list that has other parameters to
/// judge too, recording each bad one in `errors`.
pub fn page_request(
    limit: Option<i64>,
    offset: Option<i64>,
    errors: &mut ValidationErrors,
) -> Option<PageRequest> {
    // Each bound checked alone, so a request with both wrong hears of both.
    let mut valid = true;
    for (l, o) in [(limit, None), (None, offset)] {
        if let Err((field, violation)) = PageRequest::new(l, o) {
            errors.push(field, violation);
            valid = false;
        }
    }
    PageRequest::new(limit, offset).ok().filter(|_| valid)
}

/// A free-text query parameter (`q`, `author`), normalised for the
/// repositories.
///
/// # Errors
/// 422 naming `field` when it holds a control character (NUL above all,
/// which PostgreSQL cannot compare against).
pub fn query_text(field: &str, q: Option<&str>) -> Result<Option<String>, ApiError> {
    if let Some(raw) = q {
        text::check(raw, Lines::Single).map_err(|v| ValidationErrors::single(field, v))?;
    }
    Ok(search_text(q))
}

/// A strong entity tag for a versioned resource.
pub fn etag(version: i64) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` header requires: `Ok(None)` when absent or `*`.
///
/// # Errors
/// 412 when the header names no version this server could have issued
/// (weak tags never match: updates need strong comparison, RFC 9110 §13.1.1).
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::PreconditionFailed)?
        .trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        .ok_or(ApiError::PreconditionFailed)
}
