//! Administration of every account. Authorization is the service's decision;
//! these handlers only parse and render.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::users::{Role as DomainRole, User, UserChanges, UserFilter, UserSortField};
use strata_service::Registration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{Role, UserResponse};
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, ValidatedJson};
use crate::idempotency::{IdempotencyKeyParam, KeyHeader, fingerprint_json, once};
use crate::page::{PageResponse, list_params, query_text};
use crate::validation;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// 0..=1000000 (`strata_domain::page::MAX_OFFSET`), default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
    /// `created_at` (default `-created_at`), `email` or `username`; `-` prefix for descending.
    #[param(pattern = "^-?(created_at|email|username)$")]
    pub sort: Option<String>,
    /// Case-insensitive text searched in e-mail, username and full name.
    /// No control characters.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub q: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[validate(custom(function = "validation::email"))]
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    #[validate(custom(function = "validation::username"))]
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_-]+$")]
    pub username: String,
    #[validate(custom(function = "validation::password"))]
    #[schema(format = Password, min_length = 8, max_length = 128, pattern = "^([^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9]|[^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z]|[^\\u0000-\\u001F\\u007F-\\u009F]*[0-9][^\\u0000-\\u001F\\u007F-\\u009F]*[A-Z][^\\u0000-\\u001F\\u007F-\\u009F]*[a-z])[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub password: String,
    #[validate(custom(function = "validation::full_name"))]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub full_name: Option<String>,
    /// Default `user`.
    pub role: Option<Role>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
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
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

impl CreateUserRequest {
    /// Every field parsed, every violation reported; the role defaults to
    /// `user`.
    fn try_into_domain(&self) -> Result<(Registration, DomainRole), ValidationErrors> {
        let registration = Registration::parse(
            &self.email,
            &self.username,
            &self.password,
            self.full_name.as_deref(),
        )?;
        Ok((registration, self.role.map_or(DomainRole::User, Into::into)))
    }
}

impl UpdateUserRequest {
    fn try_into_domain(self) -> Result<UserChanges, ValidationErrors> {
        let profile = super::parse_profile(self.email, self.username, self.full_name)?;
        Ok(UserChanges {
            email: profile.email,
            username: profile.username,
            full_name: profile.full_name,
            role: self.role.map(Into::into),
            is_active: self.is_active,
            verification: None,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailySignups {
    #[schema(value_type = String, format = Date, example = "2026-11-21")]
    pub date: NaiveDate,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserStatsResponse {
    pub total: u64,
    pub active: u64,
    pub inactive: u64,
    pub admins: u64,
    /// One entry per UTC day, oldest first, today last; zero-count days included.
    pub signups_last_30_days: Vec<DailySignups>,
}

/// Accounts, filtered and sorted. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(UserListQuery),
    responses(
        (status = 200, body = PageResponse<UserResponse>),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<UserListQuery>,
) -> Result<web::Json<PageResponse<UserResponse>>, ApiError> {
    let query = query.into_inner();
    let (page, sort) =
        list_params::<UserSortField>(query.limit, query.offset, query.sort.as_deref())?;
    let filter = UserFilter {
        q: query_text("q", query.q.as_deref())?,
        role: query.role.map(Into::into),
        is_active: query.is_active,
    };
    let users = state.users.list(&caller.0, filter, sort, page).await?;
    Ok(web::Json(PageResponse::from_page(users, |u| {
        UserResponse::from(&u)
    })))
}

/// Create an account with any role. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(IdempotencyKeyParam),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserResponse, headers(("Location" = String))),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`EMAIL_TAKEN` or `USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authenticated,
    key: KeyHeader,
    body: ValidatedJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    // The password stays out of the fingerprint: a fast hash of it, kept
    // for a day, would be easier to attack than the account's bcrypt hash.
    let keyed = key.with(|| {
        fingerprint_json(
            &req,
            &CreateUserRequest {
                password: String::new(),
                ..body.clone()
            },
        )
    });
    let (registration, role) = body.try_into_domain()?;
    once(
        &state.idempotency,
        &caller.0,
        keyed,
        |user: &User| {
            crate::created(format!("/api/v1/users/{}", user.id)).json(UserResponse::from(user))
        },
        |once| state.users.create(&caller.0, registration, role, once),
    )
    .await
}

/// One account. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = UserResponse),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let user = state.users.get(&caller.0, id.into_inner()).await?;
    Ok(web::Json(UserResponse::from(&user)))
}

/// Edit any account, including role and activation; a role change or a
/// deactivation ends the account's sessions at once. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT` (demoting or deactivating oneself), `EMAIL_TAKEN`, `USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: ValidatedJson<UpdateUserRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let changes = body.0.try_into_domain()?;
    let user = state
        .users
        .update(&caller.0, id.into_inner(), changes)
        .await?;
    Ok(web::Json(UserResponse::from(&user)))
}

/// Delete an account with its items, posts, comments and sessions. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: an admin cannot delete themself", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.users.delete(&caller.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Account counts and daily sign-ups of the last 30 days. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = UserStatsResponse),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/stats")]
pub async fn stats(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<web::Json<UserStatsResponse>, ApiError> {
    let stats = state.users.stats(&caller.0).await?;
    Ok(web::Json(UserStatsResponse {
        total: stats.total,
        active: stats.active,
        inactive: stats.inactive,
        admins: stats.admins,
        signups_last_30_days: stats
            .signups
            .iter()
            .map(|d| DailySignups {
                date: d.date,
                count: d.count,
            })
            .collect(),
    }))
}
