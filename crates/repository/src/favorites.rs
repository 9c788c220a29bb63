//! Favorites and the tag list: the parts of the blog that readers add to
//! posts. [`crate::posts::SeaPostRepository`] delegates here.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use strata_domain::RepoError;
use strata_domain::posts::Tag;
use uuid::Uuid;

use crate::entities::{favorites, post_tags};
use crate::error::DbResultExt;
use crate::query::micros;

/// Marks `post_id` as one of `user_id`'s favorites, inside the caller's
/// write transaction; marking twice changes nothing.
pub(crate) async fn mark(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    post_id: Uuid,
) -> Result<(), RepoError> {
    favorites::Entity::insert(favorites::ActiveModel {
        user_id: Set(user_id),
        post_id: Set(post_id),
        created_at: Set(micros(Utc::now())),
    })
    .on_conflict(
        OnConflict::columns([favorites::Column::UserId, favorites::Column::PostId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await
    .or_repo("Failed to insert favorite")?;
    Ok(())
}

/// Removes the mark, inside the caller's write transaction.
pub(crate) async fn unmark(
    txn: &impl ConnectionTrait,
    user_id: Uuid,
    post_id: Uuid,
) -> Result<(), RepoError> {
    favorites::Entity::delete_many()
        .filter(favorites::Column::UserId.eq(user_id))
        .filter(favorites::Column::PostId.eq(post_id))
        .exec(txn)
        .await
        .or_repo("Failed to delete favorite")?;
    Ok(())
}

/// Which of `post_ids` `user_id` marked: one statement on the primary key.
pub(crate) async fn among(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    post_ids: Vec<Uuid>,
) -> Result<Vec<Uuid>, RepoError> {
    if post_ids.is_empty() {
        return Ok(Vec::new());
    }
    favorites::Entity::find()
        .select_only()
        .column(favorites::Column::PostId)
        .filter(favorites::Column::UserId.eq(user_id))
        .filter(favorites::Column::PostId.is_in(post_ids))
        .into_tuple::<Uuid>()
        .all(conn)
        .await
        .or_repo("Failed to read favorites")
}

/// The tags in use, most used first, ties by name.
pub(crate) async fn popular_tags(
    conn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<Tag>, RepoError> {
    let rows: Vec<String> = post_tags::Entity::find()
        .select_only()
        .column(post_tags::Column::Tag)
        .group_by(post_tags::Column::Tag)
        .order_by(Expr::col(post_tags::Column::PostId).count(), Order::Desc)
        .order_by(post_tags::Column::Tag, Order::Asc)
        .limit(limit)
        .into_tuple::<String>()
        .all(conn)
        .await
        .or_repo("Failed to list tags")?;
    // A stored tag that no longer parses is skipped rather than failing the
    // whole list; the post itself reports it when read.
    Ok(rows.iter().filter_map(|tag| Tag::parse(tag).ok()).collect())
}
