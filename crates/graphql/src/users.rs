//! Accounts: the caller's own (`viewer`), and everyone's for admins.

use async_graphql::{Context, Enum, Object, Result};
use chrono::{DateTime, Utc};
use strata_domain::ValidationErrors;
use strata_domain::page::{Sort, text_filter};
use strata_domain::users::{User, UserFilter, UserSortField};
use uuid::Uuid;

use crate::context::{caller, services};
use crate::error;
use crate::page::{self, PageOf};

/// An account as its owner or an admin sees it.
#[derive(Debug)]
pub(crate) struct UserObject(pub User);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "Role", remote = "strata_domain::users::Role")]
pub(crate) enum RoleValue {
    User,
    Admin,
}

#[Object(name = "User")]
impl UserObject {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn email(&self) -> &str {
        self.0.email.as_str()
    }
    async fn username(&self) -> &str {
        self.0.username.as_str()
    }
    async fn full_name(&self) -> Option<&str> {
        self.0.full_name.as_ref().map(|name| name.as_str())
    }
    async fn role(&self) -> RoleValue {
        self.0.role.into()
    }
    async fn is_active(&self) -> bool {
        self.0.is_active
    }
    /// When the account last proved control of its address; `null` until
    /// then.
    async fn email_verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.email_verified_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(Debug, Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// The caller's own account.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<UserObject> {
        let caller = caller(ctx)?;
        services(ctx)?
            .users
            .me(&caller)
            .await
            .map(UserObject)
            .map_err(error::service)
    }

    /// Every account, newest first unless `sort` says otherwise
    /// (`created_at`, `email`, `username`, `-` for descending). Admins only:
    /// anyone else gets `FORBIDDEN`.
    #[graphql(complexity = "crate::page_cost(limit, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn users(
        &self,
        ctx: &Context<'_>,
        q: Option<String>,
        role: Option<RoleValue>,
        is_active: Option<bool>,
        sort: Option<String>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> Result<PageOf<UserObject>> {
        let caller = caller(ctx)?;
        let page = page::request(limit, offset)?;
        let mut errors = ValidationErrors::default();
        let q = errors.check("q", text_filter(q.as_deref())).flatten();
        let sort = match sort.as_deref() {
            None => Sort::default(),
            Some(raw) => errors
                .check("sort", Sort::<UserSortField>::parse(raw))
                .unwrap_or_default(),
        };
        errors.into_result().map_err(error::validation)?;
        let filter = UserFilter {
            q,
            role: role.map(Into::into),
            is_active,
        };
        let users = services(ctx)?
            .users
            .list(&caller, filter, sort, page)
            .await
            .map_err(error::service)?;
        Ok(PageOf::from_page(users, UserObject))
    }
}
