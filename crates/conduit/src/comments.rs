//! `/articles/{slug}/comments`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::auth::Principal;
use strata_domain::page::{MAX_LIMIT, PageRequest};
use strata_domain::posts::{Body, Comment};

use crate::Conduit;
use crate::articles::find;
use crate::auth::{MaybeCaller, Writer};
use crate::error::{About, ConduitError, Subject};
use crate::json::{required, timestamp};
use crate::profiles::{Authors, ProfileDto};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/articles/{slug}/comments")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/articles/{slug}/comments/{id}").route(web::delete().to(delete)));
}

#[derive(Deserialize)]
struct CommentEnvelope {
    comment: NewComment,
}

#[derive(Deserialize)]
struct NewComment {
    body: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommentDto {
    /// The comment's number under its article: RealWorld names comments by
    /// integers, unique within the article's path.
    id: u64,
    created_at: String,
    /// Comments cannot be edited: always the creation time.
    updated_at: String,
    body: String,
    author: ProfileDto,
}

#[derive(Serialize)]
struct CommentBody {
    comment: CommentDto,
}

#[derive(Serialize)]
struct CommentsBody {
    comments: Vec<CommentDto>,
}

/// Renders `comments` with one call for all their authors.
async fn render(
    conduit: &Conduit,
    viewer: Option<Principal>,
    comments: Vec<Comment>,
) -> Result<Vec<CommentDto>, ConduitError> {
    let authors = Authors::load(conduit, viewer, comments.iter().map(|c| c.author.id)).await?;
    Ok(comments
        .into_iter()
        .map(|comment| CommentDto {
            id: comment.number,
            created_at: timestamp(comment.created_at),
            updated_at: timestamp(comment.created_at),
            author: authors.of(&comment.author),
            body: comment.body.as_str().to_owned(),
        })
        .collect())
}

async fn list(
    viewer: MaybeCaller,
    conduit: web::Data<Conduit>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let post = find(&conduit, &slug).await?;
    // Conduit's contract has no paging here: the oldest page, bounded like
    // every list.
    let first = PageRequest::new(i64::try_from(MAX_LIMIT).ok(), Some(0))
        .map_err(|(field, violation)| ValidationErrors::single(field, violation))?;
    let page = conduit
        .posts
        .list_comments(post.id, first)
        .await
        .about(Subject::Article)?;
    let comments = render(&conduit, viewer.0, page.items).await?;
    Ok(HttpResponse::Ok().json(CommentsBody { comments }))
}

async fn create(
    Writer(caller): Writer,
    conduit: web::Data<Conduit>,
    slug: web::Path<String>,
    body: web::Json<CommentEnvelope>,
) -> Result<HttpResponse, ConduitError> {
    let mut errors = ValidationErrors::default();
    let text = required(&mut errors, "body", body.comment.body.as_deref(), |raw| {
        Body::parse(raw, Body::COMMENT_MAX)
    });
    let Some(text) = text else {
        return Err(errors.into());
    };
    let post = find(&conduit, &slug).await?;
    let comment = conduit
        .posts
        .add_comment(&caller.principal, post.id, text, None)
        .await
        .about(Subject::Article)?;
    let comment = render(&conduit, Some(caller.principal), vec![comment])
        .await?
        .pop()
        .ok_or_else(|| ConduitError::Internal("rendering one comment gave none".into()))?;
    Ok(HttpResponse::Created().json(CommentBody { comment }))
}

async fn delete(
    Writer(caller): Writer,
    conduit: web::Data<Conduit>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConduitError> {
    let (slug, id) = path.into_inner();
    // The article first: under an unknown article, no comment exists.
    let post = find(&conduit, &slug).await?;
    // Ids are the comments' numbers: anything else names no comment.
    let number: u64 = id
        .parse()
        .map_err(|_| ConduitError::NotFound(Subject::Comment))?;
    let comment = conduit
        .posts
        .get_comment_by_number(post.id, number)
        .await
        .about(Subject::Comment)?;
    conduit
        .posts
        .delete_comment(&caller.principal, post.id, comment.id)
        .await
        .about(Subject::Comment)?;
    Ok(HttpResponse::NoContent().finish())
}
