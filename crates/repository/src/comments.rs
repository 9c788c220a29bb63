//! Comments on blog posts, stored in `comments`; the storage half of
//! [`strata_domain::posts::PostRepository`] that
//! [`crate::SeaPostRepository`] delegates to.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
    Select,
};
use strata_domain::RepoError;
use strata_domain::idempotency::Completion;
use strata_domain::notifications::NewNotification;
use strata_domain::page::{Page, PageRequest};
use strata_domain::posts::{Author, Body, Comment, NewComment};
use strata_domain::realtime::UserEvent;
use uuid::Uuid;

use crate::entities::{comments, posts, users};
use crate::error::DbResultExt;
use crate::idempotency;
use crate::notifications::notify_in;
use crate::query::{count, invalid_row, micros, paged};
use crate::tx::Writer;

/// A comment row with its author's username.
#[derive(Debug, FromQueryResult)]
struct CommentRow {
    id: Uuid,
    post_id: Uuid,
    author_id: Uuid,
    body: String,
    created_at: DateTime<Utc>,
    number: i64,
    author_username: String,
}

impl TryFrom<CommentRow> for Comment {
    type Error = RepoError;

    fn try_from(row: CommentRow) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(Comment {
            id,
            post_id: row.post_id,
            number: count(row.number),
            body: Body::parse(&row.body, Body::COMMENT_MAX)
                .map_err(|v| invalid_row("comments", id, "body", v))?,
            author: Author {
                id: row.author_id,
                username: row.author_username,
            },
            created_at: row.created_at,
        })
    }
}

/// Comments with the columns of a [`CommentRow`] (author joined in).
fn with_author() -> Select<comments::Entity> {
    comments::Entity::find()
        .select_only()
        .columns([
            comments::Column::Id,
            comments::Column::PostId,
            comments::Column::AuthorId,
            comments::Column::Body,
            comments::Column::CreatedAt,
            comments::Column::Number,
        ])
        .column_as(users::Column::Username, "author_username")
        .join(JoinType::InnerJoin, comments::Relation::Author.def())
}

async fn load(
    conn: &impl ConnectionTrait,
    post_id: Uuid,
    comment_id: Uuid,
) -> Result<Comment, RepoError> {
    load_where(conn, post_id, comments::Column::Id.eq(comment_id)).await
}

/// The post's one comment matching `condition` (an id or a number).
async fn load_where(
    conn: &impl ConnectionTrait,
    post_id: Uuid,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<Comment, RepoError> {
    with_author()
        .filter(condition)
        .filter(comments::Column::PostId.eq(post_id))
        .into_model::<CommentRow>()
        .one(conn)
        .await
        .or_repo("Failed to load comment")?
        .ok_or(RepoError::NotFound)
        .and_then(Comment::try_from)
}

/// The comment as stored, and the event of the notification it caused, to
/// publish now that it committed.
pub(crate) async fn add(
    db: Writer<'_>,
    comment: NewComment,
    once: Option<Completion<Comment>>,
) -> Result<(Comment, Option<UserEvent>), RepoError> {
    // Draw the next number, insert and read back (for the author's username)
    // in one transaction. The bump is a write to the post's row: on
    // PostgreSQL it locks that row until commit, so concurrent comments on
    // one post take distinct numbers; on SQLite the write gate already
    // serialises them. A missing post changes no row: NotFound.
    let txn = db.begin().await?;
    let bumped = posts::Entity::update_many()
        .col_expr(
            posts::Column::CommentsMade,
            Expr::col(posts::Column::CommentsMade).add(1),
        )
        .filter(posts::Column::Id.eq(comment.post_id))
        .exec(&txn)
        .await
        .or_repo("Failed to number comment")?;
    if bumped.rows_affected == 0 {
        return Err(RepoError::NotFound);
    }
    let number = posts::Entity::find_by_id(comment.post_id)
        .select_only()
        .column(posts::Column::CommentsMade)
        .into_tuple::<i64>()
        .one(&txn)
        .await
        .or_repo("Failed to read comment number")?
        .ok_or(RepoError::NotFound)?;
    let row = comments::ActiveModel {
        id: Set(comment.id),
        post_id: Set(comment.post_id),
        author_id: Set(comment.author_id),
        body: Set(comment.body.as_str().to_owned()),
        created_at: Set(micros(comment.created_at)),
        number: Set(number),
    };
    comments::Entity::insert(row)
        .exec_without_returning(&txn)
        .await
        .or_repo("Failed to insert comment")?;
    let created = load(&txn, comment.post_id, comment.id).await?;
    let post_author = posts::Entity::find_by_id(comment.post_id)
        .select_only()
        .column(posts::Column::AuthorId)
        .into_tuple::<Uuid>()
        .one(&txn)
        .await
        .or_repo("Failed to load the post's author")?
        .ok_or(RepoError::NotFound)?;
    let told = match NewNotification::comment(
        post_author,
        created.author.id,
        &created.author.username,
        created.post_id,
        created.id,
        created.created_at,
    ) {
        Some(told) => Some(notify_in(&txn, told).await?),
        None => None,
    };
    idempotency::complete(&txn, once, &created).await?;
    txn.commit().await.or_repo("Failed to commit new comment")?;
    Ok((created, told))
}

pub(crate) async fn list(
    db: &DatabaseConnection,
    post_id: Uuid,
    page: PageRequest,
) -> Result<Page<Comment>, RepoError> {
    // Oldest first, ties by id: the `(post_id, created_at)` index order.
    let rows = with_author()
        .filter(comments::Column::PostId.eq(post_id))
        .order_by_asc(comments::Column::CreatedAt)
        .order_by_asc(comments::Column::Id)
        .limit(page.limit())
        .offset(page.offset())
        .into_model::<CommentRow>()
        .all(db)
        .await
        .or_repo("Failed to list comments")?;
    let counted = async {
        comments::Entity::find()
            .filter(comments::Column::PostId.eq(post_id))
            .count(db)
            .await
            .or_repo("Failed to count comments")
    };
    let comments = rows
        .into_iter()
        .map(Comment::try_from)
        .collect::<Result<_, _>>()?;
    paged(page, false, comments, counted).await
}

pub(crate) async fn find(
    db: &DatabaseConnection,
    post_id: Uuid,
    comment_id: Uuid,
) -> Result<Comment, RepoError> {
    load(db, post_id, comment_id).await
}

pub(crate) async fn find_by_number(
    db: &DatabaseConnection,
    post_id: Uuid,
    number: u64,
) -> Result<Comment, RepoError> {
    // Numbers start at 1 and fit an i64: anything else names no comment.
    let Ok(number) = i64::try_from(number) else {
        return Err(RepoError::NotFound);
    };
    load_where(db, post_id, comments::Column::Number.eq(number)).await
}

pub(crate) async fn delete(db: Writer<'_>, comment_id: Uuid) -> Result<(), RepoError> {
    let result = comments::Entity::delete_by_id(comment_id)
        .exec(&db)
        .await
        .or_repo("Failed to delete comment")?;
    if result.rows_affected == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}
