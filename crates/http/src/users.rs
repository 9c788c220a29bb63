//! `/api/v1/users/*`: the caller's own account.

use actix_web::{HttpResponse, delete, get, patch, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::users::{Email, FullName, User, Username};
use strata_service::ProfileChanges;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::validation;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(me).service(update_me).service(delete_me);
}

/// An account as clients see it; never carries the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "ada")]
    pub username: String,
    #[schema(example = "Ada Lovelace")]
    pub full_name: Option<String>,
    #[schema(example = "user")]
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl From<strata_domain::users::Role> for Role {
    fn from(role: strata_domain::users::Role) -> Self {
        match role {
            strata_domain::users::Role::User => Self::User,
            strata_domain::users::Role::Admin => Self::Admin,
        }
    }
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.as_str().to_owned(),
            username: user.username.as_str().to_owned(),
            full_name: user.full_name.as_ref().map(|n| n.as_str().to_owned()),
            role: user.role.into(),
            is_active: user.is_active,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Changes to one's own profile. `role` and `is_active` are not accepted.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[validate(custom(function = "validation::email"))]
    pub email: Option<String>,
    #[validate(custom(function = "validation::username"))]
    pub username: Option<String>,
    /// `null` clears the name.
    #[serde(default, deserialize_with = "validation::double_option")]
    #[schema(value_type = Option<String>)]
    pub full_name: Option<Option<String>>,
}

impl UpdateMeRequest {
    fn try_into_domain(self) -> Result<ProfileChanges, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let email = self
            .email
            .and_then(|e| errors.check("email", Email::parse(&e)));
        let username = self
            .username
            .and_then(|u| errors.check("username", Username::parse(&u)));
        let full_name = match self.full_name {
            None => None,
            Some(None) => Some(None),
            Some(Some(name)) => errors.check("full_name", FullName::parse(&name)),
        };
        errors.into_result()?;
        Ok(ProfileChanges {
            email,
            username,
            full_name,
        })
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeRequest {
    #[validate(custom(function = "validation::bounded_secret"))]
    #[schema(format = Password)]
    pub password: String,
}

/// The caller's account.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = UserResponse),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
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
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`EMAIL_TAKEN` or `USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
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
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed", body = Problem, content_type = "application/problem+json"),
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
