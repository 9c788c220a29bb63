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
    Author, Body, Comment, NewComment, NewPost, Post, PostChanges, PostFilter, PostRepository,
    PostSortField,
};
use uuid::Uuid;

use crate::comments;
use crate::counts::CountCache;
use crate::entities::{comments as comment_rows, posts, users};
use crate::error::DbResultExt;
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
    title: String,
    body: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    author_username: String,
    comment_count: i64,
}

impl TryFrom<PostRow> for Post {
    type Error = RepoError;

    fn try_from(row: PostRow) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(Post {
            id,
            title: Title::parse(&row.title).map_err(|v| invalid_row("posts", id, "title", v))?,
            body: Body::parse(&row.body, Body::POST_MAX)
                .map_err(|v| invalid_row("posts", id, "body", v))?,
            author: Author {
                id: row.author_id,
                username: row.author_username,
            },
            comment_count: count(row.comment_count),
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
    select
        .select_only()
        .columns([
            posts::Column::Id,
            posts::Column::AuthorId,
            posts::Column::Title,
            posts::Column::Body,
            posts::Column::CreatedAt,
            posts::Column::UpdatedAt,
        ])
        .column_as(users::Column::Username, "author_username")
        .expr_as(comment_count, "comment_count")
        .join(JoinType::InnerJoin, posts::Relation::Author.def())
}

/// One post with its author and comment count, through `conn` (the pool or a
/// transaction).
async fn load_post(conn: &impl ConnectionTrait, id: Uuid) -> Result<Post, RepoError> {
    with_author_and_count(posts::Entity::find())
        .filter(posts::Column::Id.eq(id))
        .into_model::<PostRow>()
        .one(conn)
        .await
        .or_repo("Failed to load post")?
        .ok_or(RepoError::NotFound)
        .and_then(Post::try_from)
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
            title: Set(post.title.as_str().to_owned()),
            body: Set(post.body.as_str().to_owned()),
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
        let created = load_post(&txn, post.id).await?;
        idempotency::complete(&txn, once, &created).await?;
        txn.commit().await.or_repo("Failed to commit new post")?;
        Ok(created)
    }

    async fn find(&self, id: Uuid) -> Result<Post, RepoError> {
        load_post(&self.db, id).await
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

    async fn delete_comment(&self, comment_id: Uuid) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        comments::delete(db, comment_id).await
    }
}
