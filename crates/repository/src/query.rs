//! Pieces shared by the list queries and row conversions: substring search,
//! sort direction, counts, timestamps and stored rows that fail the domain's
//! rules.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{BinOper, Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, DbBackend, Order, Value};
use strata_domain::RepoError;
use strata_domain::page::{After, Direction, Page, PageRequest, SortValue};
use uuid::Uuid;

/// The escape character of every search pattern.
const ESCAPE: char = '\\';

/// A `LIKE` pattern matching `q` anywhere, with `q`'s own `%`, `_` and `\`
/// taken literally (paired with `ESCAPE '\'`).
pub(crate) fn contains_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | ESCAPE) {
            pattern.push(ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Whether `text` can match no stored value: it holds NUL, which the domain
/// never lets into storage (`strata_domain::text`) and which PostgreSQL's
/// `text` cannot even be compared with (the statement fails). Conditions on
/// such a text become `FALSE`, so it never reaches the database, whatever
/// layer above forgot to refuse it.
pub(crate) fn unmatchable(text: &str) -> bool {
    text.contains('\0')
}

/// `column LIKE '%q%' ESCAPE '\'`, for a column stored lower-cased. `q`
/// arrives lower-cased from the domain
/// ([`strata_domain::page::search_text`]).
pub(crate) fn contains(column: impl ColumnTrait, q: &str) -> Expr {
    if unmatchable(q) {
        return Expr::value(false);
    }
    Expr::col(column.as_column_ref()).like(LikeExpr::new(contains_pattern(q)).escape(ESCAPE))
}

/// A case-insensitive match of `q` anywhere in `column`, for any letters.
///
/// It is `LOWER(column) LIKE '%q%' ESCAPE '\'` (PostgreSQL's `LIKE` is
/// case-sensitive), with `LOWER` folding by the database's locale. SQLite's
/// `LOWER` folds ASCII only, so "ÉLAN" would not match "élan": for a `q`
/// beyond ASCII it is `column REGEXP '(?i)q'` there, `q` escaped, through
/// the regex crate's function that `connect` registers on every connection.
/// Only there: SQLite compiles a `REGEXP` pattern again for every statement,
/// which made an ASCII search that stops after one page 3.5 times slower.
pub(crate) fn lower_contains(backend: DbBackend, column: impl ColumnTrait, q: &str) -> Expr {
    if unmatchable(q) {
        return Expr::value(false);
    }
    let column = Expr::col(column.as_column_ref());
    match backend {
        DbBackend::Sqlite if !q.is_ascii() => column.binary(
            BinOper::Custom("REGEXP"),
            Expr::val(format!("(?i){}", regex::escape(q))),
        ),
        _ => {
            Expr::expr(Func::lower(column)).like(LikeExpr::new(contains_pattern(q)).escape(ESCAPE))
        }
    }
}

pub(crate) fn order(direction: Direction) -> Order {
    match direction {
        Direction::Asc => Order::Asc,
        Direction::Desc => Order::Desc,
    }
}

/// The rows after `after` in the order `(column, id)` both in `direction`:
/// one row-value comparison, which both databases answer by seeking the
/// index `(…filter, column, id)` to the position and walking on from there.
pub(crate) fn after_row(
    column: impl ColumnTrait,
    id: impl ColumnTrait,
    direction: Direction,
    after: &After,
) -> Expr {
    let value: Value = match &after.value {
        SortValue::Time(at) => micros(*at).into(),
        SortValue::Text(text) if unmatchable(text) => return Expr::value(false),
        SortValue::Text(text) => text.clone().into(),
    };
    let row = Expr::tuple([
        Expr::col(column.as_column_ref()),
        Expr::col(id.as_column_ref()),
    ]);
    let position = Expr::tuple([Expr::val(value), Expr::val(after.id)]);
    match direction {
        Direction::Asc => row.gt(position),
        Direction::Desc => row.lt(position),
    }
}

/// A page of a list with its total: every list answers through here, so
/// totals follow one rule. From an offset, a short page proves its total
/// (see [`PageRequest::total_if_last`]) and spares the count; from a keyset
/// position (`keyset`) the rows before it are unknown, so `count` (a
/// [`CountCache`](crate::counts::CountCache) count where the list has one)
/// is always awaited. `items` are the page's rows, read before the count.
///
/// # Errors
/// `count`'s failure.
pub(crate) async fn paged<T>(
    page: PageRequest,
    keyset: bool,
    items: Vec<T>,
    count: impl Future<Output = Result<u64, RepoError>>,
) -> Result<Page<T>, RepoError> {
    let total = match page.total_if_last(items.len()) {
        Some(total) if !keyset => total,
        _ => count.await?,
    };
    Ok(Page::new(items, total, page))
}

/// A `COUNT(*)` read back as the domain's unsigned count.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// PostgreSQL stores microseconds; truncating before writing makes values
/// returned from a write equal to what later reads yield on every backend.
pub(crate) fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// A stored row that no longer satisfies the domain's rules: the database
/// was edited behind the application's back, or the rules were tightened
/// without a data migration.
#[derive(Debug, thiserror::Error)]
#[error("stored {table}.{column} of row {id} is invalid: {reason}")]
struct InvalidStoredRow {
    table: &'static str,
    column: &'static str,
    id: Uuid,
    reason: String,
}

pub(crate) fn invalid_row(
    table: &'static str,
    id: Uuid,
    column: &'static str,
    reason: impl ToString,
) -> RepoError {
    RepoError::unexpected(
        "Failed to read stored row",
        InvalidStoredRow {
            table,
            column,
            id,
            reason: reason.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_wildcards_and_the_escape_character() {
        assert_eq!(contains_pattern("milk"), "%milk%");
        assert_eq!(contains_pattern("50%"), "%50\\%%");
        assert_eq!(contains_pattern("a_b"), "%a\\_b%");
        assert_eq!(contains_pattern("c:\\x"), "%c:\\\\x%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn negative_counts_cannot_wrap() {
        assert_eq!(count(3), 3);
        assert_eq!(count(-1), 0);
    }
}
