//! Offset pagination and sorting, shared by every list endpoint.
//!
//! Offset pagination is deliberate: the contract exposes `total`, `limit` and
//! `offset`, and pages of at most 100 rows keep deep offsets cheap enough for
//! an admin UI. Exports, which walk everything, use keyset batches instead.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::validation::Violation;

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;
/// Deep offsets make the database scan and discard rows; past this, use filters.
pub const MAX_OFFSET: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u64,
    offset: u64,
}

impl PageRequest {
    /// # Errors
    /// A [`Violation`] (`range`) for a limit outside 1..=100 or an offset
    /// above [`MAX_OFFSET`], naming which through the returned field name.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Self, (&'static str, Violation)> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(l) if (1..=MAX_LIMIT as i64).contains(&l) => l as u64,
            Some(_) => {
                return Err((
                    "limit",
                    Violation::new("range", format!("must be between 1 and {MAX_LIMIT}")),
                ));
            }
        };
        let offset = match offset {
            None => 0,
            Some(o) if (0..=MAX_OFFSET as i64).contains(&o) => o as u64,
            Some(_) => {
                return Err((
                    "offset",
                    Violation::new("range", format!("must be between 0 and {MAX_OFFSET}")),
                ));
            }
        };
        Ok(Self { limit, offset })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The total that a page of `rows` rows proves without counting: a page
    /// shorter than the limit is the last one, so the total is the offset
    /// plus its rows. A full page may have more after it, and an empty page
    /// past the start may have overshot the end, so both prove nothing.
    pub fn total_if_last(&self, rows: usize) -> Option<u64> {
        let rows = u64::try_from(rows).ok()?;
        (rows < self.limit && (rows > 0 || self.offset == 0)).then_some(self.offset + rows)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of results and the size of the whole result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, total: u64, request: PageRequest) -> Self {
        Self {
            items,
            total,
            limit: request.limit,
            offset: request.offset,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Asc,
    #[default]
    Desc,
}

/// A sort key `F` (an enum of sortable fields) and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<F> {
    pub field: F,
    pub direction: Direction,
}

/// The value of a row's sort key, as a keyset cursor carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Time(DateTime<Utc>),
    Text(String),
}

/// A keyset position: a page that starts here holds the rows that sort
/// after the row with this sort value and id (ties are broken by id, in the
/// sort's direction). Unlike an offset, it costs the same at any depth, and
/// rows inserted or deleted before it do not shift the pages after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub value: SortValue,
    pub id: Uuid,
}

/// Fields a list can be sorted by, named as clients write them.
pub trait SortField: Sized + Copy {
    /// The field names accepted in `sort`, for error messages and docs.
    const NAMES: &'static [&'static str];
    fn from_name(name: &str) -> Option<Self>;
}

impl<F: SortField> Sort<F> {
    /// Parses `field` or `-field` (descending).
    ///
    /// # Errors
    /// A [`Violation`] (`sort`) naming the accepted fields.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        let (direction, name) = match raw.strip_prefix('-') {
            Some(name) => (Direction::Desc, name),
            None => (Direction::Asc, raw),
        };
        F::from_name(name)
            .map(|field| Self { field, direction })
            .ok_or_else(|| {
                Violation::new(
                    "sort",
                    format!(
                        "must be one of {} (prefix '-' for descending)",
                        F::NAMES.join(", ")
                    ),
                )
            })
    }
}

/// Sort keys of titled, timestamped content: items and posts sort alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitledSortField {
    CreatedAt,
    UpdatedAt,
    Title,
}

impl TitledSortField {
    /// The name clients sort by.
    pub fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Title => "title",
        }
    }

    /// The sort value of a row with these fields.
    pub fn value_of(
        self,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        title: &str,
    ) -> SortValue {
        match self {
            Self::CreatedAt => SortValue::Time(created_at),
            Self::UpdatedAt => SortValue::Time(updated_at),
            Self::Title => SortValue::Text(title.to_owned()),
        }
    }
}

impl SortField for TitledSortField {
    const NAMES: &'static [&'static str] = &["created_at", "updated_at", "title"];
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "created_at" => Some(Self::CreatedAt),
            "updated_at" => Some(Self::UpdatedAt),
            "title" => Some(Self::Title),
            _ => None,
        }
    }
}

/// Newest first.
impl Default for Sort<TitledSortField> {
    fn default() -> Self {
        Self {
            field: TitledSortField::CreatedAt,
            direction: Direction::Desc,
        }
    }
}

/// A search or name filter as a client sends it: refused with a control
/// character, else as [`search_text`].
///
/// # Errors
/// [`crate::text::CONTROL_CHARACTER`].
pub fn text_filter(q: Option<&str>) -> Result<Option<String>, Violation> {
    if let Some(raw) = q {
        crate::text::check(raw, crate::text::Lines::Single)?;
    }
    Ok(search_text(q))
}

/// Lower-cased search text, trimmed; `None` for blank input.
pub fn search_text(q: Option<&str>) -> Option<String> {
    q.map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(200).collect::<String>().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum F {
        CreatedAt,
    }
    impl SortField for F {
        const NAMES: &'static [&'static str] = &["created_at"];
        fn from_name(name: &str) -> Option<Self> {
            (name == "created_at").then_some(Self::CreatedAt)
        }
    }

    #[test]
    fn limits_default_to_20_and_stay_within_1_to_100() {
        assert_eq!(
            PageRequest::new(None, None).unwrap(),
            PageRequest::default()
        );
        assert_eq!(PageRequest::new(Some(100), Some(5)).unwrap().limit(), 100);
        assert_eq!(PageRequest::new(Some(1000), None).unwrap_err().0, "limit");
        assert_eq!(PageRequest::new(Some(0), None).unwrap_err().0, "limit");
        assert_eq!(PageRequest::new(None, Some(-1)).unwrap_err().0, "offset");
    }

    #[test]
    fn only_a_short_page_that_reached_its_rows_proves_the_total() {
        let first = PageRequest::new(Some(20), None).unwrap();
        assert_eq!(first.total_if_last(0), Some(0));
        assert_eq!(first.total_if_last(7), Some(7));
        assert_eq!(first.total_if_last(20), None);
        let later = PageRequest::new(Some(20), Some(40)).unwrap();
        assert_eq!(later.total_if_last(5), Some(45));
        assert_eq!(later.total_if_last(20), None);
        // The offset may lie past the end: the rows before it are unknown.
        assert_eq!(later.total_if_last(0), None);
    }

    #[test]
    fn a_leading_minus_sorts_descending() {
        assert_eq!(
            Sort::<F>::parse("-created_at").unwrap().direction,
            Direction::Desc
        );
        assert_eq!(
            Sort::<F>::parse("created_at").unwrap().direction,
            Direction::Asc
        );
        assert!(
            Sort::<F>::parse("password_hash")
                .unwrap_err()
                .message
                .contains("created_at")
        );
    }

    #[test]
    fn search_text_is_trimmed_lowercased_and_blank_means_none() {
        assert_eq!(search_text(Some("  Foo ")), Some("foo".into()));
        assert_eq!(search_text(Some("   ")), None);
    }
}
