//! What the unit tests of every service share.

use strata_domain::auth::Principal;
use strata_domain::users::Role;
use uuid::Uuid;

/// A caller with `role` and fresh ids.
pub(crate) fn caller(role: Role) -> Principal {
    Principal {
        user_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        role,
    }
}
