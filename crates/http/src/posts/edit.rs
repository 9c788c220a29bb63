//! Publishing, editing and deleting posts: the request bodies and their
//! rules, and the handlers that write.

use actix_web::{HttpRequest, HttpResponse, delete, patch, post, web};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::posts::{Post, PostChanges, TAGS_MAX, Tag};
use strata_service::PostDraft;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::PostResponse;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ValidatedJson, Writer};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint_json, once};
use crate::validation;

/// `tags` as documented: `null` or at most [`TAGS_MAX`] one-line strings
/// of 1 to [`Tag::MAX`] characters, each with a non-blank character.
fn tags_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(Tag::MAX))
                .pattern(Some(
                    "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
                )),
        )
        .max_items(Some(TAGS_MAX))
        .description(Some(
            "At most 20 labels of 1 to 64 characters, trimmed; repeats are dropped.",
        ))
        .examples([serde_json::json!(["rust", "web"])])
        .build()
}

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePostRequest {
    #[validate(custom(function = "validation::title"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub title: String,
    /// A one-line summary shown in lists; absent or `null` for none.
    // Absent fields stay out of the idempotency fingerprint, so a request
    // of the shape before they existed keeps its fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "validation::post_description"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: Option<String>,
    #[validate(custom(function = "validation::post_body"))]
    #[schema(
        min_length = 1,
        max_length = 50000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "validation::tags"))]
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
}

/// A partial update: absent fields are unchanged.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePostRequest {
    #[validate(custom(function = "validation::title"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub title: Option<String>,
    /// `null` removes the description.
    #[serde(default, deserialize_with = "validation::double_option")]
    #[validate(custom(function = "validation::post_description"))]
    #[schema(
        value_type = Option<String>,
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: Option<Option<String>>,
    #[validate(custom(function = "validation::post_body"))]
    #[schema(
        min_length = 1,
        max_length = 50000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub body: Option<String>,
    /// The whole new list (`[]` removes every tag); `null` or absent keeps
    /// the tags.
    #[validate(custom(function = "validation::tags"))]
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
}

impl CreatePostRequest {
    fn try_into_domain(self) -> Result<PostDraft, ValidationErrors> {
        PostDraft::parse(
            &self.title,
            self.description.as_deref(),
            &self.body,
            self.tags.as_deref().unwrap_or_default(),
        )
    }
}

impl UpdatePostRequest {
    fn try_into_domain(self) -> Result<PostChanges, ValidationErrors> {
        PostChanges::parse(
            self.title.as_deref(),
            self.description.as_ref().map(Option::as_deref),
            self.body.as_deref(),
            self.tags.as_deref(),
        )
    }
}

/// Publish a post.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(IdempotencyKeyParam),
    request_body = CreatePostRequest,
    responses(
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 201, body = PostResponse, headers(("Location" = String))),
    )
)]
#[post("/posts")]
pub async fn create_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Writer,
    key: KeyHeader,
    body: ValidatedJson<CreatePostRequest>,
) -> Result<HttpResponse, ApiError> {
    let keyed = key.with(|| fingerprint_json(&req, &body.0));
    let draft = body.0.try_into_domain()?;
    once(
        &state.idempotency,
        &caller.0,
        keyed,
        |post: &Post| {
            crate::created(format!("/api/v1/posts/{}", post.id)).json(PostResponse::from(post))
        },
        |once| state.posts.create(&caller.0, draft, once),
    )
    .await
}

/// Edit a post: its author or an admin.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdatePostRequest,
    responses(
        (status = 200, body = PostResponse),
        (status = 403, description = "`FORBIDDEN`: Not the author or an admin; or `EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/posts/{id}")]
pub async fn update_post(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
    body: ValidatedJson<UpdatePostRequest>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let changes = body.0.try_into_domain()?;
    let post = state
        .posts
        .update(&caller.0, id.into_inner(), changes)
        .await?;
    Ok(web::Json(PostResponse::from(&post)))
}

/// Delete a post and its comments: its author or an admin.
#[utoipa::path(
    tag = "posts",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted with its comments"),
        (status = 403, description = "`FORBIDDEN`: Not the author or an admin; or `EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/posts/{id}")]
pub async fn delete_post(
    state: web::Data<AppState>,
    caller: Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.posts.delete(&caller.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_documented_tag_bounds_are_the_domains() {
        assert_eq!(TAGS_MAX, 20);
        assert_eq!(Tag::MAX, 64);
    }

    #[test]
    fn a_create_reports_every_bad_field_at_once() {
        let request = CreatePostRequest {
            title: " ".into(),
            description: Some("a\nb".into()),
            body: "ok".into(),
            tags: Some(vec!["x".repeat(65)]),
        };
        let fields: Vec<String> = request
            .try_into_domain()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["title", "description", "tags"]);
    }

    #[test]
    fn an_update_tells_clearing_from_keeping() {
        let keep: UpdatePostRequest = serde_json::from_str("{}").unwrap();
        let changes = keep.try_into_domain().unwrap();
        assert_eq!(changes, PostChanges::default());
        let clear: UpdatePostRequest =
            serde_json::from_str(r#"{"description": null, "tags": []}"#).unwrap();
        let changes = clear.try_into_domain().unwrap();
        assert_eq!(changes.description, Some(None));
        assert_eq!(changes.tags, Some(vec![]));
    }
}
