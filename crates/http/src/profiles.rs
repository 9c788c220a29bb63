//! `/api/v1/profiles`: what readers see of an author, and who follows whom;
//! `/api/v1/users/me/profile`: the caller's own bio and image.

use actix_web::{delete, get, patch, put, web};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::profiles::{Profile, ProfileUpdate};
use strata_domain::users::Username;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, MaybeAuthenticated, ValidatedJson, Writer};
use crate::validation;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(get_profile)
        .service(follow)
        .service(unfollow)
        .service(my_profile)
        .service(update_my_profile);
}

/// An author as the caller sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse {
    pub id: Uuid,
    #[schema(example = "ada")]
    pub username: String,
    /// `null` when the author wrote none.
    #[schema(example = "Writes about engines.")]
    pub bio: Option<String>,
    /// The address of the author's picture; `null` when none.
    #[schema(example = "https://example.com/ada.jpg")]
    pub image: Option<String>,
    /// Whether the caller follows this author: `false` for anonymous
    /// callers and on one's own profile.
    pub following: bool,
}

impl From<&Profile> for ProfileResponse {
    fn from(profile: &Profile) -> Self {
        Self {
            id: profile.user_id,
            username: profile.username.clone(),
            bio: profile.bio.as_ref().map(|b| b.as_str().to_owned()),
            image: profile.image.as_ref().map(|i| i.as_str().to_owned()),
            following: profile.following,
        }
    }
}

/// Changes to the caller's profile: an absent field is unchanged, `null` or
/// `""` clears it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    #[serde(default, deserialize_with = "validation::double_option")]
    #[schema(
        value_type = Option<String>,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$",
        example = "Writes about engines."
    )]
    pub bio: Option<Option<String>>,
    /// An absolute `http` or `https` URL.
    #[serde(default, deserialize_with = "validation::double_option")]
    #[schema(
        value_type = Option<String>,
        max_length = 2048,
        pattern = "^[^\\S\\u0000-\\u001F\\u007F-\\u009F]*(https?://[^\\s/\\u0000-\\u001F\\u007F-\\u009F][^\\s\\u0000-\\u001F\\u007F-\\u009F]*)?[^\\S\\u0000-\\u001F\\u007F-\\u009F]*$",
        example = "https://example.com/ada.jpg"
    )]
    pub image: Option<Option<String>>,
}

impl UpdateProfileRequest {
    fn try_into_domain(self) -> Result<ProfileUpdate, ValidationErrors> {
        ProfileUpdate::parse(
            self.bio.as_ref().map(Option::as_deref),
            self.image.as_ref().map(Option::as_deref),
        )
    }
}

/// Only a valid username can name a profile; anything else names none.
fn username(raw: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(|_| ApiError::NotFound("Profile"))
}

/// An author's profile. Public; with a bearer token, `following` says
/// whether the caller follows them.
#[utoipa::path(
    tag = "profiles",
    security((), ("bearer" = [])),
    params(("username" = String, Path, description = "A username (case-insensitive)", min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_-]+$")),
    responses(
        (status = 200, body = ProfileResponse),
        (status = 404, description = "No active account has this username", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/profiles/{username}")]
pub async fn get_profile(
    state: web::Data<AppState>,
    caller: MaybeAuthenticated,
    name: web::Path<String>,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let name = username(&name)?;
    let profile = state.profiles.get(caller.0, name.as_str()).await?;
    Ok(web::Json(ProfileResponse::from(&profile)))
}

/// Follow an author: their posts join the caller's feed. Following again
/// changes nothing.
#[utoipa::path(
    tag = "profiles",
    security(("bearer" = []), ("oauth2" = [])),
    params(("username" = String, Path, description = "A username (case-insensitive)", min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_-]+$")),
    responses(
        (status = 200, description = "The profile, `following` true", body = ProfileResponse),
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No active account has this username", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: the caller's own username (`username`, code `self`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/profiles/{username}/follow")]
pub async fn follow(
    state: web::Data<AppState>,
    caller: Writer,
    name: web::Path<String>,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let name = username(&name)?;
    let profile = state.profiles.follow(&caller.0, name.as_str()).await?;
    Ok(web::Json(ProfileResponse::from(&profile)))
}

/// Stop following an author. Not following them changes nothing.
#[utoipa::path(
    tag = "profiles",
    security(("bearer" = []), ("oauth2" = [])),
    params(("username" = String, Path, description = "A username (case-insensitive)", min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_-]+$")),
    responses(
        (status = 200, description = "The profile, `following` false", body = ProfileResponse),
        (status = 403, description = "`EMAIL_NOT_VERIFIED` when `auth.require_verified_email` is on and the caller's address is unverified", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No active account has this username", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/profiles/{username}/follow")]
pub async fn unfollow(
    state: web::Data<AppState>,
    caller: Writer,
    name: web::Path<String>,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let name = username(&name)?;
    let profile = state.profiles.unfollow(&caller.0, name.as_str()).await?;
    Ok(web::Json(ProfileResponse::from(&profile)))
}

/// The caller's own profile.
#[utoipa::path(
    tag = "profiles",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = ProfileResponse),
    )
)]
#[get("/users/me/profile")]
pub async fn my_profile(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let profile = state.profiles.mine(&caller.0).await?;
    Ok(web::Json(ProfileResponse::from(&profile)))
}

/// Edit the caller's bio or image.
#[utoipa::path(
    tag = "profiles",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, body = ProfileResponse),
    )
)]
#[patch("/users/me/profile")]
pub async fn update_my_profile(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ValidatedJson<UpdateProfileRequest>,
) -> Result<web::Json<ProfileResponse>, ApiError> {
    let update = body.0.try_into_domain()?;
    let profile = state.profiles.update(&caller.0, update).await?;
    Ok(web::Json(ProfileResponse::from(&profile)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn update(json: &str) -> Result<ProfileUpdate, ValidationErrors> {
        serde_json::from_str::<UpdateProfileRequest>(json)
            .unwrap()
            .try_into_domain()
    }

    #[test]
    fn absent_keeps_and_null_or_empty_clears() {
        assert!(update("{}").unwrap().is_empty());
        let cleared = update(r#"{"bio": null, "image": ""}"#).unwrap();
        assert_eq!(cleared.bio, Some(None));
        assert_eq!(cleared.image, Some(None));
        let set = update(r#"{"bio": "Hi\nthere", "image": " https://e.com/a.png "}"#).unwrap();
        assert_eq!(set.bio.unwrap().unwrap().as_str(), "Hi\nthere");
        assert_eq!(set.image.unwrap().unwrap().as_str(), "https://e.com/a.png");
    }

    #[test]
    fn every_bad_field_is_named() {
        let long_bio = "b".repeat(2_001);
        let errors = update(&format!(
            r#"{{"bio": "{long_bio}", "image": "ftp://e.com"}}"#
        ))
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["bio", "image"]);
    }
}
