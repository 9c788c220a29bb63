//! The admin side of [`strata_domain::users::UserRepository`]: the filtered
//! user list, aggregate statistics and keyset export batches. The one trait
//! implementation in [`crate::users`] delegates here.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use strata_domain::RepoError;
use strata_domain::page::{Page, PageRequest, Sort};
use strata_domain::users::{DailyCount, Role, User, UserFilter, UserSortField, UserStats};
use uuid::Uuid;

use crate::entities::users;
use crate::error::DbResultExt;
use crate::query::{contains, count, lower_contains, micros, order, paged};

/// Accounts matching every given filter.
fn filtered(backend: DatabaseBackend, filter: &UserFilter) -> Select<users::Entity> {
    let mut select = users::Entity::find();
    if let Some(q) = filter.q.as_deref() {
        // E-mails are stored lower-cased and usernames have a folded twin;
        // only the display name needs folding at query time.
        select = select.filter(
            Condition::any()
                .add(contains(users::Column::Email, q))
                .add(contains(users::Column::UsernameLower, q))
                .add(lower_contains(backend, users::Column::FullName, q)),
        );
    }
    if let Some(role) = filter.role {
        select = select.filter(users::Column::Role.eq(role.as_str()));
    }
    if let Some(is_active) = filter.is_active {
        select = select.filter(users::Column::IsActive.eq(is_active));
    }
    select
}

fn sort_column(field: UserSortField) -> users::Column {
    match field {
        UserSortField::CreatedAt => users::Column::CreatedAt,
        UserSortField::Email => users::Column::Email,
        // The folded form, so "alice" and "Bob" sort as a reader expects.
        UserSortField::Username => users::Column::UsernameLower,
    }
}

fn to_users(rows: Vec<users::Model>) -> Result<Vec<User>, RepoError> {
    rows.into_iter().map(User::try_from).collect()
}

pub(crate) async fn list(
    db: &DatabaseConnection,
    filter: UserFilter,
    sort: Sort<UserSortField>,
    page: PageRequest,
) -> Result<Page<User>, RepoError> {
    let select = filtered(db.get_database_backend(), &filter);
    // Ties broken by id in the same direction: pages stay stable. E-mails
    // and folded usernames are unique, so they have no ties, and naming `id`
    // after them would make PostgreSQL sort what their unique index already
    // yields in order.
    let direction = order(sort.direction);
    let mut ordered = select
        .clone()
        .order_by(sort_column(sort.field), direction.clone());
    if sort.field == UserSortField::CreatedAt {
        ordered = ordered.order_by(users::Column::Id, direction);
    }
    let rows = ordered
        .limit(page.limit())
        .offset(page.offset())
        .all(db)
        .await
        .or_repo("Failed to list users")?;
    let counted = async { select.count(db).await.or_repo("Failed to count users") };
    paged(page, false, to_users(rows)?, counted).await
}

/// The UTC calendar day of `users.created_at`, as `YYYY-MM-DD` text on both
/// backends. SQLite stores timestamps as RFC 3339 text, which `date()`
/// parses (offset included); PostgreSQL stores `timestamptz`, which is
/// converted to UTC explicitly so the session time zone cannot shift days.
fn signup_day(backend: DatabaseBackend) -> Expr {
    match backend {
        DatabaseBackend::Postgres => {
            Expr::cust(r#"to_char("users"."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD')"#)
        }
        _ => Expr::cust(r#"date("users"."created_at")"#),
    }
}

/// Earlier bounds match every account anyway and fall outside PostgreSQL's
/// timestamp range (callers may pass `DateTime::<Utc>::MIN_UTC` for "all").
const EARLIEST_FILTERED_SINCE: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// Wrapped in an error when a backend answers a day in another shape.
#[derive(Debug, thiserror::Error)]
#[error("sign-up day {0:?} is not a YYYY-MM-DD date")]
struct InvalidDay(String);

pub(crate) async fn stats(
    db: &DatabaseConnection,
    since: DateTime<Utc>,
) -> Result<UserStats, RepoError> {
    // COUNT of a CASE without ELSE counts only the rows the condition holds
    // for, and is 0 (not NULL, as SUM would be) on an empty table.
    let (total, active, admins): (i64, i64, i64) = users::Entity::find()
        .select_only()
        .expr_as(
            Expr::col(users::Column::Id.as_column_ref()).count(),
            "total",
        )
        .expr_as(
            Expr::Case(Box::new(Expr::case(users::Column::IsActive.eq(true), 1))).count(),
            "active",
        )
        .expr_as(
            Expr::Case(Box::new(Expr::case(
                users::Column::Role.eq(Role::Admin.as_str()),
                1,
            )))
            .count(),
            "admins",
        )
        .into_tuple()
        .one(db)
        .await
        .or_repo("Failed to count users")?
        .unwrap_or_default();

    let day = signup_day(db.get_database_backend());
    let mut signups = users::Entity::find()
        .select_only()
        .expr_as(day.clone(), "day")
        .expr_as(Expr::col(users::Column::Id.as_column_ref()).count(), "n")
        .group_by(day.clone())
        .order_by_asc(day);
    if since > EARLIEST_FILTERED_SINCE {
        signups = signups.filter(users::Column::CreatedAt.gte(micros(since)));
    }
    let signups: Vec<(String, i64)> = signups
        .into_tuple()
        .all(db)
        .await
        .or_repo("Failed to count sign-ups")?;
    let signups = signups
        .into_iter()
        .map(|(day, n)| {
            let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| {
                RepoError::unexpected("Failed to read sign-up day", InvalidDay(day))
            })?;
            Ok(DailyCount {
                date,
                count: count(n),
            })
        })
        .collect::<Result<_, RepoError>>()?;

    Ok(UserStats {
        total: count(total),
        active: count(active),
        admins: count(admins),
        signups,
    })
}

pub(crate) async fn export_batch(
    db: &DatabaseConnection,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<User>, RepoError> {
    // UUIDv7 ids sort by creation; both backends compare them bytewise
    // (PostgreSQL's uuid ordering, SQLite's blob ordering), so `id > after`
    // resumes exactly where the previous batch ended, on the primary key.
    let mut select = users::Entity::find();
    if let Some(after) = after {
        select = select.filter(users::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(users::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .or_repo("Failed to load users for export")?;
    to_users(rows)
}
