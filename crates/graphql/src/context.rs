//! Who is asking, as the resolvers see it: the transport authenticates the
//! bearer token once per request and leaves a [`Viewer`] in the request's
//! data.

use async_graphql::{Context, Result};
use strata_domain::auth::Principal;

use crate::Services;
use crate::error;

/// The caller of this request, `None` when anonymous.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Viewer(pub Option<Principal>);

/// The services, registered by [`crate::schema`].
pub(crate) fn services<'a>(ctx: &Context<'a>) -> Result<&'a Services> {
    ctx.data::<Services>()
}

/// The caller, if any.
pub(crate) fn viewer(ctx: &Context<'_>) -> Option<Principal> {
    ctx.data_opt::<Viewer>().and_then(|viewer| viewer.0)
}

/// The caller of a protected field.
///
/// # Errors
/// `UNAUTHENTICATED` for an anonymous request.
pub(crate) fn caller(ctx: &Context<'_>) -> Result<Principal> {
    viewer(ctx).ok_or_else(error::unauthenticated)
}

/// A caller allowed to write content: as on `/api/v1`, a verified address
/// is needed when `auth.require_verified_email` is on.
///
/// # Errors
/// `UNAUTHENTICATED`, or `EMAIL_NOT_VERIFIED`.
pub(crate) async fn writer(ctx: &Context<'_>) -> Result<Principal> {
    let caller = caller(ctx)?;
    services(ctx)?
        .accounts
        .ensure_may_write(&caller)
        .await
        .map_err(error::service)?;
    Ok(caller)
}
