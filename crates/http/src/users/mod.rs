//! `/api/v1/users`: the caller's own account (`me`) and, for admins,
//! everyone's: list, create, read, edit, delete, statistics and export.

mod admin;
pub(crate) mod export;
mod me;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::users::User;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub use admin::{CreateUserRequest, UpdateUserRequest, UserListQuery};
pub use me::{DeleteMeRequest, UpdateMeRequest};

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    // Fixed paths first: `/users/{id}` would otherwise capture "me", "stats",
    // "export" and "exports" and answer 400 for a malformed UUID.
    cfg.service(me::me)
        .service(me::update_me)
        .service(me::delete_me)
        .service(admin::stats)
        .service(export::export)
        .service(export::start_export)
        .service(admin::list_users)
        .service(admin::create_user)
        .service(admin::get_user)
        .service(admin::update_user)
        .service(admin::delete_user);
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
    /// Whether the account proved control of `email` (by following the
    /// verification mail, or a password reset mail).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl From<Role> for strata_domain::users::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Admin => Self::Admin,
        }
    }
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
            email_verified: user.email_verified(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Parses the profile fields that both self-service and admin edits accept,
/// reporting every invalid one. `full_name: Some(None)` clears the name.
fn parse_profile(
    email: Option<String>,
    username: Option<String>,
    full_name: Option<Option<String>>,
) -> Result<strata_service::ProfileChanges, strata_domain::ValidationErrors> {
    use strata_domain::users::{Email, FullName, Username};
    let mut errors = strata_domain::ValidationErrors::default();
    let email = email.and_then(|e| errors.check("email", Email::parse(&e)));
    let username = username.and_then(|u| errors.check("username", Username::parse(&u)));
    let full_name = match full_name {
        None => None,
        Some(None) => Some(None),
        Some(Some(name)) => errors.check("full_name", FullName::parse(&name)),
    };
    errors.into_result()?;
    Ok(strata_service::ProfileChanges {
        email,
        username,
        full_name,
    })
}
