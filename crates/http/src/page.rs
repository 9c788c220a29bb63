//! List plumbing shared by every collection endpoint: `limit`/`offset`/`sort`
//! parsing and the page envelope. Also the `ETag`/`If-Match` helpers.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use serde::Serialize;
use strata_domain::ValidationErrors;
use strata_domain::page::{
    After, Page, PageRequest, Sort, SortField, TitledSortField, text_filter,
};
use strata_domain::validation::Violation;
use utoipa::ToSchema;

use crate::error::ApiError;

/// `{"items": [...], "total": N, "limit": L, "offset": O}`, and
/// `next_cursor` on lists that page by keyset too.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse<T> {
    pub items: Vec<T>,
    /// Rows matching the filters, across all pages.
    pub total: u64,
    pub limit: u64,
    /// Rows skipped before this page (0 on a page asked for by `cursor`).
    pub offset: u64,
    /// Where the next page starts: send it as `cursor` (with the same
    /// `sort` and filters) to get the rows after this page, at the cost of
    /// the first page however deep. Present when the page is full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> PageResponse<T> {
    pub fn from_page<D>(page: Page<D>, f: impl FnMut(D) -> T) -> Self {
        let page = page.map(f);
        Self {
            items: page.items,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
            next_cursor: None,
        }
    }

    /// Sets `next_cursor` from the last row when the page is full (a
    /// shorter page is the last one).
    #[must_use]
    pub fn with_next_cursor(mut self, last: impl FnOnce(&T) -> String) -> Self {
        if u64::try_from(self.items.len()).is_ok_and(|n| n == self.limit) {
            self.next_cursor = self.items.last().map(last);
        }
        self
    }
}

/// Opaque keyset cursors. A cursor names the sort it was issued under and
/// the last row's sort value and id; it is base64url so that it travels in
/// a query string untouched. It carries nothing the client did not already
/// see in that row.
pub mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::{DateTime, SecondsFormat, Utc};
    use strata_domain::page::{After, Direction, Sort, SortValue, TitledSortField};
    use strata_domain::validation::Violation;
    use uuid::Uuid;

    /// Longer than any cursor this server issues (a 200-character title
    /// of 4-byte characters, base64-encoded, is about 1,130).
    pub const MAX_LEN: usize = 2048;

    /// `created_at` or `-created_at`, as clients write the sort.
    pub fn sort_name(sort: Sort<TitledSortField>) -> String {
        match sort.direction {
            Direction::Asc => sort.field.name().to_owned(),
            Direction::Desc => format!("-{}", sort.field.name()),
        }
    }

    /// The cursor of the row with `value` and `id` under `sort`.
    pub fn encode(sort: Sort<TitledSortField>, value: &SortValue, id: Uuid) -> String {
        let value = match value {
            SortValue::Time(at) => format!("t{}", at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            SortValue::Text(text) => format!("s{text}"),
        };
        URL_SAFE_NO_PAD.encode(format!("{}|{value}|{id}", sort_name(sort)))
    }

    /// The position `raw` names, if it was issued under `sort`.
    ///
    /// # Errors
    /// A [`Violation`] (`invalid`) for a cursor this server did not issue,
    /// or one issued under another sort.
    pub fn decode(raw: &str, sort: Sort<TitledSortField>) -> Result<After, Violation> {
        let foreign = || Violation::new("invalid", "is not a cursor this list issued");
        if raw.len() > MAX_LEN {
            return Err(foreign());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| foreign())?;
        let text = String::from_utf8(bytes).map_err(|_| foreign())?;
        // The value may itself hold '|': the sort ends at the first, the id
        // starts after the last.
        let (issued, rest) = text.split_once('|').ok_or_else(foreign)?;
        let (value, id) = rest.rsplit_once('|').ok_or_else(foreign)?;
        let expected = sort_name(sort);
        if issued != expected {
            return Err(Violation::new(
                "invalid",
                format!(
                    "was issued for sort={issued}, not sort={expected}: send that sort, or start again without a cursor"
                ),
            ));
        }
        let id = Uuid::parse_str(id).map_err(|_| foreign())?;
        let value = match (sort.field, value.split_at_checked(1)) {
            (TitledSortField::Title, Some(("s", text))) => SortValue::Text(text.to_owned()),
            (TitledSortField::CreatedAt | TitledSortField::UpdatedAt, Some(("t", at))) => {
                SortValue::Time(
                    DateTime::parse_from_rfc3339(at)
                        .map_err(|_| foreign())?
                        .with_timezone(&Utc),
                )
            }
            _ => return Err(foreign()),
        };
        Ok(After { value, id })
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]

        use super::*;

        fn sort(raw: &str) -> Sort<TitledSortField> {
            Sort::parse(raw).unwrap()
        }

        #[test]
        fn a_cursor_names_the_position_it_was_issued_for() {
            let id = Uuid::now_v7();
            let at = DateTime::parse_from_rfc3339("2026-12-06T03:58:00.123456Z")
                .unwrap()
                .with_timezone(&Utc);
            for (raw, value) in [
                ("-created_at", SortValue::Time(at)),
                ("updated_at", SortValue::Time(at)),
                ("title", SortValue::Text("a|b | c ✓".into())),
            ] {
                let cursor = encode(sort(raw), &value, id);
                assert!(
                    cursor
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
                );
                assert_eq!(decode(&cursor, sort(raw)).unwrap(), After { value, id });
            }
        }

        #[test]
        fn a_cursor_of_another_sort_or_not_ours_is_refused() {
            let id = Uuid::now_v7();
            let title = encode(sort("title"), &SortValue::Text("x".into()), id);
            let refused = decode(&title, sort("-title")).unwrap_err();
            assert!(
                refused.message.contains("sort=title"),
                "{}",
                refused.message
            );
            let forged = URL_SAFE_NO_PAD.encode(format!("created_at|sx|{id}"));
            for raw in [
                "",
                "!!",
                "bm9wZQ",
                forged.as_str(),
                &"A".repeat(MAX_LEN + 1),
            ] {
                assert_eq!(
                    decode(raw, sort("created_at")).unwrap_err().code,
                    "invalid",
                    "{raw}"
                );
            }
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
    text_filter(q).map_err(|v| ValidationErrors::single(field, v).into())
}

/// The position `cursor` names, if given.
///
/// # Errors
/// 422 for a cursor this list did not issue under `sort`, or one sent with
/// an `offset`.
pub fn keyset_position(
    raw: Option<&str>,
    offset: Option<i64>,
    sort: Sort<TitledSortField>,
) -> Result<Option<After>, ApiError> {
    // An empty cursor names no position, like a blank `q` names no search.
    let Some(raw) = raw.filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    if offset.is_some() {
        return Err(ValidationErrors::single(
            "offset",
            Violation::new("invalid", "cannot be combined with cursor"),
        )
        .into());
    }
    cursor::decode(raw, sort)
        .map(Some)
        .map_err(|v| ValidationErrors::single("cursor", v).into())
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
