//! Blog posts, stored in `posts`. Comments live in [`crate::comments`]; the
//! one [`PostRepository`] implementation here delegates to it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
    Select,
};
use strata_domain::RepoError;
use strata_domain::events::EventBus;
use strata_domain::idempotency::Completion;
use strata_domain::items::Title;
use strata_domain::page::{After, Page, PageRequest, Sort};
use strata_domain::posts::{
    Author, Body, Comment, Description, NewComment, NewPost, Post, PostChanges, PostFilter,
    PostRepository, PostSortField, Slug, Tag, Tags,
};
use uuid::Uuid;

use crate::comments;
use crate::counts::CountCache;
use crate::entities::{comments as comment_rows, favorites, follows, post_tags, posts, users};
use crate::error::DbResultExt;
use crate::favorites as favorite_marks;
use crate::idempotency;
use crate::query::{
    after_row, count, invalid_row, lower_contains, micros, order, paged, unmatchable,
};
use crate::realtime::Publisher;
use crate::tx::WriteGate;

/// [`PostRepository`] over sea-orm. Every read of posts is one statement
/// that joins the author and counts comments in a correlated subquery, so a
/// page costs the same number of queries whatever its size.
#[derive(Debug, Clone)]
pub struct SeaPostRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
    /// List totals, reused until the next write (see [`CountCache`]).
    totals: Arc<CountCache<PostFilter>>,
    /// Where the notifications comments cause are announced.
    events: Publisher,
}

impl SeaPostRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self {
            db,
            writes,
            totals: Arc::default(),
            events: Publisher::default(),
        }
    }

    /// Publishes the notifications that comments cause on `bus`, after commit.
    #[must_use]
    pub fn with_events(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.events = Publisher::new(bus);
        self
    }
}

/// A post row with its author's username and its comment count.
#[derive(Debug, FromQueryResult)]
struct PostRow {
    id: Uuid,
    author_id: Uuid,
    slug: Option<String>,
    title: String,
    description: Option<String>,
    body: String,
    tags: String,
    favorites_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    author_username: String,
    comment_count: i64,
}

impl TryFrom<PostRow> for Post {
    type Error = RepoError;

    fn try_from(row: PostRow) -> Result<Self, Self::Error> {
        let id = row.id;
        let slug = row.slug.as_deref().unwrap_or_default();
        Ok(Post {
            id,
            slug: Slug::parse(slug).map_err(|v| invalid_row("posts", id, "slug", v))?,
            title: Title::parse(&row.title).map_err(|v| invalid_row("posts", id, "title", v))?,
            description: row
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()
                .map_err(|v| invalid_row("posts", id, "description", v))?,
            body: Body::parse(&row.body, Body::POST_MAX)
                .map_err(|v| invalid_row("posts", id, "body", v))?,
            tags: row
                .tags
                .split('\n')
                .filter(|tag| !tag.is_empty())
                .map(Tag::parse)
                .collect::<Result<_, _>>()
                .map_err(|v| invalid_row("posts", id, "tags", v))?,
            author: Author {
                id: row.author_id,
                username: row.author_username,
            },
            comment_count: count(row.comment_count),
            favorites_count: count(row.favorites_count),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Posts matching every given filter (no join, so it also serves the count).
fn filtered(backend: DbBackend, filter: &PostFilter) -> Select<posts::Entity> {
    let mut select = posts::Entity::find();
    if let Some(author) = filter.author.as_deref() {
        // Usernames are ASCII; the folded column is unique-indexed, so the
        // subquery is one index probe. A scalar `=` rather than `IN`: the
        // planner then knows one author is meant and reads the posts from
        // the (author, sort, id) index in order, where `IN` made it sort.
        if unmatchable(author) {
            return select.filter(Expr::value(false));
        }
        let folded = author.trim().to_ascii_lowercase();
        let author_ids = Query::select()
            .column(users::Column::Id)
            .from(users::Entity)
            .and_where(users::Column::UsernameLower.eq(folded))
            .to_owned();
        select = select.filter(
            Expr::col(posts::Column::AuthorId.as_column_ref())
                .eq(Expr::SubQuery(None, Box::new(author_ids.into()))),
        );
    }
    if let Some(q) = filter.q.as_deref() {
        select = select.filter(
            Condition::any()
                .add(lower_contains(backend, posts::Column::Title, q))
                .add(lower_contains(backend, posts::Column::Body, q)),
        );
    }
    if let Some(tag) = filter.tag.as_deref() {
        let tagged = Query::select()
            .column(post_tags::Column::PostId)
            .from(post_tags::Entity)
            .and_where(post_tags::Column::Tag.eq(tag.trim()))
            .to_owned();
        select = select.filter(Expr::col(posts::Column::Id.as_column_ref()).in_subquery(tagged));
    }
    if let Some(username) = filter.favorited_by.as_deref() {
        if unmatchable(username) {
            return select.filter(Expr::value(false));
        }
        let user = Query::select()
            .column(users::Column::Id)
            .from(users::Entity)
            .and_where(users::Column::UsernameLower.eq(username.trim().to_ascii_lowercase()))
            .to_owned();
        let marked = Query::select()
            .column(favorites::Column::PostId)
            .from(favorites::Entity)
            .and_where(
                Expr::col(favorites::Column::UserId.as_column_ref())
                    .eq(Expr::SubQuery(None, Box::new(user.into()))),
            )
            .to_owned();
        select = select.filter(Expr::col(posts::Column::Id.as_column_ref()).in_subquery(marked));
    }
    if let Some(follower) = filter.followed_by {
        let followed = Query::select()
            .column(follows::Column::FolloweeId)
            .from(follows::Entity)
            .and_where(follows::Column::FollowerId.eq(follower))
            .to_owned();
        select =
            select.filter(Expr::col(posts::Column::AuthorId.as_column_ref()).in_subquery(followed));
    }
    select
}

/// `select` narrowed to the columns of a [`PostRow`]: the author's username
/// through a join and a correlated `COUNT` of the post's comments (served by
/// the `(post_id, created_at)` index), evaluated inside the same statement.
fn with_author_and_count(select: Select<posts::Entity>) -> Select<posts::Entity> {
    let comment_count = Query::select()
        .expr(Expr::col(comment_rows::Column::Id.as_column_ref()).count())
        .from(comment_rows::Entity)
        .and_where(
            Expr::col(comment_rows::Column::PostId.as_column_ref())
                .equals(posts::Column::Id.as_column_ref()),
        )
        .to_owned();
    let favorites_count = Query::select()
        .expr(Expr::col(favorites::Column::UserId.as_column_ref()).count())
        .from(favorites::Entity)
        .and_where(
            Expr::col(favorites::Column::PostId.as_column_ref())
                .equals(posts::Column::Id.as_column_ref()),
        )
        .to_owned();
    select
        .select_only()
        .columns([
            posts::Column::Id,
            posts::Column::AuthorId,
            posts::Column::Slug,
            posts::Column::Title,
            posts::Column::Description,
            posts::Column::Body,
            posts::Column::Tags,
            posts::Column::CreatedAt,
            posts::Column::UpdatedAt,
        ])
        .column_as(users::Column::Username, "author_username")
        .expr_as(comment_count, "comment_count")
        .expr_as(favorites_count, "favorites_count")
        .join(JoinType::InnerJoin, posts::Relation::Author.def())
}

/// One post with its author and comment count, through `conn` (the pool or a
/// transaction).
async fn load_post(conn: &impl ConnectionTrait, id: Uuid) -> Result<Post, RepoError> {
    load_where(conn, posts::Column::Id.eq(id)).await
}

async fn load_where(
    conn: &impl ConnectionTrait,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<Post, RepoError> {
    with_author_and_count(posts::Entity::find())
        .filter(condition)
        .into_model::<PostRow>()
        .one(conn)
        .await
        .or_repo("Failed to load post")?
        .ok_or(RepoError::NotFound)
        .and_then(Post::try_from)
}

/// A post's tags as `posts.tags` stores them.
fn tags_column(tags: &Tags) -> String {
    tags.iter().map(Tag::as_str).collect::<Vec<_>>().join("\n")
}

/// Replaces the post's rows in `post_tags` (inside the caller's transaction).
async fn write_tags(
    conn: &impl ConnectionTrait,
    post_id: Uuid,
    tags: &Tags,
    replace: bool,
) -> Result<(), RepoError> {
    if replace {
        post_tags::Entity::delete_many()
            .filter(post_tags::Column::PostId.eq(post_id))
            .exec(conn)
            .await
            .or_repo("Failed to clear post tags")?;
    }
    if tags.is_empty() {
        return Ok(());
    }
    post_tags::Entity::insert_many(tags.iter().map(|tag| post_tags::ActiveModel {
        post_id: Set(post_id),
        tag: Set(tag.as_str().to_owned()),
    }))
    .exec_without_returning(conn)
    .await
    .or_repo("Failed to insert post tags")?;
    Ok(())
}

fn sort_column(field: PostSortField) -> posts::Column {
    match field {
        PostSortField::CreatedAt => posts::Column::CreatedAt,
        PostSortField::UpdatedAt => posts::Column::UpdatedAt,
        PostSortField::Title => posts::Column::Title,
    }
}

impl SeaPostRepository {
    /// One page, from an offset or (with `after`) from a keyset position.
    async fn page(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        after: Option<After>,
        page: PageRequest,
    ) -> Result<Page<Post>, RepoError> {
        let select = filtered(self.db.get_database_backend(), &filter);
        let column = sort_column(sort.field);
        // Ties broken by id in the same direction: pages stay stable.
        let direction = order(sort.direction);
        let mut rows = with_author_and_count(select.clone())
            .order_by(column, direction.clone())
            .order_by(posts::Column::Id, direction)
            .limit(page.limit());
        rows = match &after {
            Some(after) => rows.filter(after_row(column, posts::Column::Id, sort.direction, after)),
            None => rows.offset(page.offset()),
        };
        let rows = rows
            .into_model::<PostRow>()
            .all(&self.db)
            .await
            .or_repo("Failed to list posts")?;
        let counted = self.totals.count(
            &self.writes,
            &filter,
            &select,
            &self.db,
            "Failed to count posts",
        );
        let posts = rows
            .into_iter()
            .map(Post::try_from)
            .collect::<Result<_, _>>()?;
        paged(page, after.is_some(), posts, counted).await
    }
}

#[async_trait]
impl PostRepository for SeaPostRepository {
    async fn create_keyed(
        &self,
        post: NewPost,
        once: Option<Completion<Post>>,
    ) -> Result<Post, RepoError> {
        let created_at = micros(post.created_at);
        let row = posts::ActiveModel {
            id: Set(post.id),
            author_id: Set(post.author_id),
            slug: Set(Some(post.slug.as_str().to_owned())),
            title: Set(post.title.as_str().to_owned()),
            description: Set(post.description.as_ref().map(|d| d.as_str().to_owned())),
            body: Set(post.body.as_str().to_owned()),
            tags: Set(tags_column(&post.tags)),
            comments_made: Set(0),
            created_at: Set(created_at),
            updated_at: Set(created_at),
        };
        // Insert and read back (for the author's username) in one
        // transaction; a missing author breaks the foreign key: NotFound.
        let txn = self.writes.begin(&self.db).await?;
        posts::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .or_repo("Failed to insert post")?;
        write_tags(&txn, post.id, &post.tags, false).await?;
        let created = load_post(&txn, post.id).await?;
        idempotency::complete(&txn, once, &created).await?;
        txn.commit().await.or_repo("Failed to commit new post")?;
        Ok(created)
    }

    async fn find(&self, id: Uuid) -> Result<Post, RepoError> {
        load_post(&self.db, id).await
    }

    async fn find_by_slug(&self, slug: &Slug) -> Result<Post, RepoError> {
        load_where(&self.db, posts::Column::Slug.eq(slug.as_str())).await
    }

    async fn favorite(&self, user_id: Uuid, post_id: Uuid) -> Result<Post, RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        // Looked up first so a missing post is NotFound, not a key error.
        load_post(&txn, post_id).await?;
        favorite_marks::mark(&txn, user_id, post_id).await?;
        let post = load_post(&txn, post_id).await?;
        txn.commit().await.or_repo("Failed to commit favorite")?;
        Ok(post)
    }

    async fn unfavorite(&self, user_id: Uuid, post_id: Uuid) -> Result<Post, RepoError> {
        let txn = self.writes.begin(&self.db).await?;
        favorite_marks::unmark(&txn, user_id, post_id).await?;
        let post = load_post(&txn, post_id).await?;
        txn.commit().await.or_repo("Failed to commit unfavorite")?;
        Ok(post)
    }

    async fn favorited_among(
        &self,
        user_id: Uuid,
        post_ids: Vec<Uuid>,
    ) -> Result<Vec<Uuid>, RepoError> {
        favorite_marks::among(&self.db, user_id, post_ids).await
    }

    async fn tags(&self, limit: u64) -> Result<Vec<Tag>, RepoError> {
        favorite_marks::popular_tags(&self.db, limit).await
    }

    async fn list(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        page: PageRequest,
    ) -> Result<Page<Post>, RepoError> {
        self.page(filter, sort, None, page).await
    }

    async fn list_after(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Post>, RepoError> {
        self.page(filter, sort, Some(after), page).await
    }

    async fn update(
        &self,
        id: Uuid,
        changes: PostChanges,
        now: DateTime<Utc>,
    ) -> Result<Post, RepoError> {
        let mut update = posts::Entity::update_many()
            .col_expr(posts::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(posts::Column::Id.eq(id));
        if let Some(title) = &changes.title {
            update = update.col_expr(posts::Column::Title, Expr::value(title.as_str()));
        }
        if let Some(body) = &changes.body {
            update = update.col_expr(posts::Column::Body, Expr::value(body.as_str()));
        }
        if let Some(description) = &changes.description {
            update = update.col_expr(
                posts::Column::Description,
                Expr::value(description.as_ref().map(|d| d.as_str().to_owned())),
            );
        }
        if let Some(tags) = &changes.tags {
            update = update.col_expr(posts::Column::Tags, Expr::value(tags_column(tags)));
        }

        // Update and read back in one transaction so the caller gets exactly
        // the row its write produced.
        let txn = self.writes.begin(&self.db).await?;
        let result = update.exec(&txn).await.or_repo("Failed to update post")?;
        if result.rows_affected == 0 {
            txn.rollback()
                .await
                .or_repo("Failed to roll back post update")?;
            return Err(RepoError::NotFound);
        }
        if let Some(tags) = &changes.tags {
            write_tags(&txn, id, tags, true).await?;
        }
        let updated = load_post(&txn, id).await?;
        txn.commit().await.or_repo("Failed to commit post update")?;
        Ok(updated)
    }

    async fn delete(&self, id: Uuid) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        // Comments go with the row through ON DELETE CASCADE.
        let result = posts::Entity::delete_by_id(id)
            .exec(&db)
            .await
            .or_repo("Failed to delete post")?;
        if result.rows_affected == 0 {
            return Err(RepoError::NotFound);
        }
        Ok(())
    }

    async fn add_comment_keyed(
        &self,
        comment: NewComment,
        once: Option<Completion<Comment>>,
    ) -> Result<Comment, RepoError> {
        let (comment, told) = {
            let db = self.writes.enter(&self.db).await?;
            comments::add(db, comment, once).await?
        };
        self.events.publish(told.into_iter().collect()).await;
        Ok(comment)
    }

    async fn list_comments(
        &self,
        post_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Comment>, RepoError> {
        comments::list(&self.db, post_id, page).await
    }

    async fn find_comment(&self, post_id: Uuid, comment_id: Uuid) -> Result<Comment, RepoError> {
        comments::find(&self.db, post_id, comment_id).await
    }

    async fn find_comment_by_number(
        &self,
        post_id: Uuid,
        number: u64,
    ) -> Result<Comment, RepoError> {
        comments::find_by_number(&self.db, post_id, number).await
    }

    async fn delete_comment(&self, comment_id: Uuid) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        comments::delete(db, comment_id).await
    }
}
