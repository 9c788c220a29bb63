//! `/articles` (Strata's posts), their favorites, the feed and `/tags`.

mod input;

use std::collections::HashSet;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use strata_domain::auth::Principal;
use strata_domain::page::Sort;
use strata_domain::posts::{Post, Slug};
use uuid::Uuid;

use crate::Conduit;
use crate::auth::{Anonymous, Caller, MaybeCaller, Writer};
use crate::error::{About, ConduitError, Subject};
use crate::json::timestamp;
use crate::profiles::{Authors, ProfileDto};

use input::{ArticleChanges, ArticleEnvelope, ListQuery, NewArticle, PageQuery};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/articles")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    // Before `/articles/{slug}`, which would otherwise take "feed" for a slug.
    .service(web::resource("/articles/feed").route(web::get().to(feed)))
    .service(
        web::resource("/articles/{slug}")
            .route(web::get().to(get_article))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/articles/{slug}/favorite")
            .route(web::post().to(favorite))
            .route(web::delete().to(unfavorite)),
    )
    .service(web::resource("/tags").route(web::get().to(tags)));
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ArticleDto {
    slug: String,
    title: String,
    description: String,
    /// Left out of lists, as the spec's list items have no body.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    tag_list: Vec<String>,
    created_at: String,
    updated_at: String,
    favorited: bool,
    favorites_count: u64,
    author: ProfileDto,
}

#[derive(Serialize)]
struct ArticleBody {
    article: ArticleDto,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArticlesBody {
    articles: Vec<ArticleDto>,
    articles_count: u64,
}

#[derive(Serialize)]
struct TagsBody {
    tags: Vec<String>,
}

/// Whether the viewer marked the posts as favorites: asked of the service,
/// or already known from the write that just happened.
#[derive(Debug, Clone, Copy)]
enum Favorited {
    Ask,
    Known(bool),
}

/// Renders `posts` in a constant number of calls: one for their authors,
/// and one for the viewer's favorites among them (none for an anonymous
/// reader, who has none).
async fn render(
    conduit: &Conduit,
    viewer: Option<Principal>,
    posts: Vec<Post>,
    with_body: bool,
    favorited: Favorited,
) -> Result<Vec<ArticleDto>, ConduitError> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let authors = Authors::load(conduit, viewer, posts.iter().map(|p| p.author.id)).await?;
    let marked: HashSet<Uuid> = match (favorited, viewer) {
        (Favorited::Known(true), _) => posts.iter().map(|p| p.id).collect(),
        (Favorited::Known(false), _) | (Favorited::Ask, None) => HashSet::new(),
        (Favorited::Ask, Some(viewer)) => conduit
            .posts
            .favorited_among(&viewer, posts.iter().map(|p| p.id).collect())
            .await
            .about(Subject::Article)?
            .into_iter()
            .collect(),
    };
    Ok(posts
        .into_iter()
        .map(|post| ArticleDto {
            favorited: marked.contains(&post.id),
            author: authors.of(&post.author),
            slug: post.slug.as_str().to_owned(),
            title: post.title.as_str().to_owned(),
            description: post
                .description
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
            body: with_body.then(|| post.body.as_str().to_owned()),
            tag_list: post.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            created_at: timestamp(post.created_at),
            updated_at: timestamp(post.updated_at),
            favorites_count: post.favorites_count,
        })
        .collect())
}

/// One article with its body, as every single-article route answers it.
async fn one(
    conduit: &Conduit,
    viewer: Option<Principal>,
    post: Post,
    favorited: Favorited,
) -> Result<ArticleDto, ConduitError> {
    render(conduit, viewer, vec![post], true, favorited)
        .await?
        .pop()
        .ok_or_else(|| ConduitError::Internal("rendering one article gave none".into()))
}

/// The post behind a slug; a slug that cannot exist is as unknown as one
/// that does not.
///
/// # Errors
/// [`ConduitError::NotFound`] for the article.
pub async fn find(conduit: &Conduit, raw: &str) -> Result<Post, ConduitError> {
    let slug = Slug::parse(raw).map_err(|_| ConduitError::NotFound(Subject::Article))?;
    conduit
        .posts
        .get_by_slug(&slug)
        .await
        .about(Subject::Article)
}

async fn list(
    viewer: MaybeCaller,
    conduit: web::Data<Conduit>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConduitError> {
    let (filter, page) = query.parse()?;
    let posts = conduit
        .posts
        .list(filter, Sort::default(), page)
        .await
        .about(Subject::Article)?;
    let articles = render(&conduit, viewer.0, posts.items, false, Favorited::Ask).await?;
    Ok(HttpResponse::Ok().json(ArticlesBody {
        articles,
        articles_count: posts.total,
    }))
}

async fn feed(
    caller: Caller,
    conduit: web::Data<Conduit>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ConduitError> {
    let page = query.parse()?;
    let posts = conduit
        .posts
        .feed(&caller.principal, page)
        .await
        .about(Subject::Article)?;
    let viewer = Some(caller.principal);
    let articles = render(&conduit, viewer, posts.items, false, Favorited::Ask).await?;
    Ok(HttpResponse::Ok().json(ArticlesBody {
        articles,
        articles_count: posts.total,
    }))
}

async fn get_article(
    viewer: MaybeCaller,
    conduit: web::Data<Conduit>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let post = find(&conduit, &slug).await?;
    let article = one(&conduit, viewer.0, post, Favorited::Ask).await?;
    Ok(HttpResponse::Ok().json(ArticleBody { article }))
}

async fn create(
    Writer(caller): Writer,
    conduit: web::Data<Conduit>,
    body: web::Json<ArticleEnvelope<NewArticle>>,
) -> Result<HttpResponse, ConduitError> {
    let draft = body.article.parse()?;
    let post = conduit
        .posts
        .create(&caller.principal, draft, None)
        .await
        .about(Subject::Article)?;
    let viewer = Some(caller.principal);
    let article = one(&conduit, viewer, post, Favorited::Known(false)).await?;
    Ok(HttpResponse::Created().json(ArticleBody { article }))
}

async fn update(
    Writer(caller): Writer,
    conduit: web::Data<Conduit>,
    slug: web::Path<String>,
    body: web::Json<ArticleEnvelope<ArticleChanges>>,
) -> Result<HttpResponse, ConduitError> {
    let changes = body.article.parse()?;
    let post = find(&conduit, &slug).await?;
    let post = conduit
        .posts
        .update(&caller.principal, post.id, changes)
        .await
        .about(Subject::Article)?;
    let article = one(&conduit, Some(caller.principal), post, Favorited::Ask).await?;
    Ok(HttpResponse::Ok().json(ArticleBody { article }))
}

async fn delete(
    Writer(caller): Writer,
    conduit: web::Data<Conduit>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let post = find(&conduit, &slug).await?;
    conduit
        .posts
        .delete(&caller.principal, post.id)
        .await
        .about(Subject::Article)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn favorite(
    Writer(caller): Writer,
    conduit: web::Data<Conduit>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let post = find(&conduit, &slug).await?;
    let post = conduit
        .posts
        .favorite(&caller.principal, post.id)
        .await
        .about(Subject::Article)?;
    let viewer = Some(caller.principal);
    let article = one(&conduit, viewer, post, Favorited::Known(true)).await?;
    Ok(HttpResponse::Ok().json(ArticleBody { article }))
}

async fn unfavorite(
    Writer(caller): Writer,
    conduit: web::Data<Conduit>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let post = find(&conduit, &slug).await?;
    let post = conduit
        .posts
        .unfavorite(&caller.principal, post.id)
        .await
        .about(Subject::Article)?;
    let viewer = Some(caller.principal);
    let article = one(&conduit, viewer, post, Favorited::Known(false)).await?;
    Ok(HttpResponse::Ok().json(ArticleBody { article }))
}

async fn tags(_: Anonymous, conduit: web::Data<Conduit>) -> Result<HttpResponse, ConduitError> {
    let tags = conduit.posts.tags().await.about(Subject::Article)?;
    Ok(HttpResponse::Ok().json(TagsBody {
        tags: tags.iter().map(|t| t.as_str().to_owned()).collect(),
    }))
}
