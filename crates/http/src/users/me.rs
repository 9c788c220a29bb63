//! `/api/v1/users/me`: the caller's own account.

use actix_web::{HttpResponse, delete, get, patch, web};
use serde::Deserialize;
use strata_domain::ValidationErrors;
use strata_service::ProfileChanges;
use utoipa::ToSchema;
use validator::Validate;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::validation;

use super::UserResponse;

/// Changes to one's own profile. `role` and `is_active` are not accepted.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[validate(custom(function = "validation::email"))]
    #[schema(max_length = 254, format = Email)]
    pub email: Option<String>,
    #[validate(custom(function = "validation::username"))]
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_-]+$")]
    pub username: Option<String>,
    /// `null` clears the name.
    #[serde(default, deserialize_with = "validation::double_option")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub full_name: Option<Option<String>>,
}

impl UpdateMeRequest {
    fn try_into_domain(self) -> Result<ProfileChanges, ValidationErrors> {
        super::parse_profile(self.email, self.username, self.full_name)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeRequest {
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(format = Password, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub password: String,
}

/// The caller's account.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = UserResponse),
    )
)]
#[get("/users/me")]
pub async fn me(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<web::Json<UserResponse>, ApiError> {
    let user = state.users.me(&caller.0).await?;
    Ok(web::Json(UserResponse::from(&user)))
}

/// Edit the caller's e-mail, username or full name.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 409, description = "`EMAIL_TAKEN` or `USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed, or `role`/`is_active` sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ValidatedJson<UpdateMeRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let changes = body.0.try_into_domain()?;
    let user = state.users.update_me(&caller.0, changes).await?;
    Ok(web::Json(UserResponse::from(&user)))
}

/// Delete the caller's account, confirmed with their password.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = DeleteMeRequest,
    responses(
        (status = 204, description = "Account and all its sessions deleted"),
        (status = 401, description = "Missing or invalid token (`UNAUTHENTICATED`) or wrong password (`INVALID_CREDENTIALS`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/me")]
pub async fn delete_me(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ValidatedJson<DeleteMeRequest>,
) -> Result<HttpResponse, ApiError> {
    state.users.delete_me(&caller.0, &body.0.password).await?;
    Ok(HttpResponse::NoContent().finish())
}
