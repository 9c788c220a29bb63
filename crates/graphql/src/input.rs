//! Arguments as the REST API reads the same fields.

use async_graphql::MaybeUndefined;
use strata_domain::ValidationErrors;
use strata_domain::validation::Violation;

/// A nullable field of an update: absent keeps it (`None`), `null` clears
/// it (`Some(None)`), a value is parsed, its violation recorded under
/// `field`. `parse` may itself read a blank value as none.
pub(crate) fn change<T>(
    errors: &mut ValidationErrors,
    field: &str,
    raw: MaybeUndefined<String>,
    parse: impl FnOnce(&str) -> Result<Option<T>, Violation>,
) -> Option<Option<T>> {
    match raw {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(raw) => errors.check(field, parse(&raw)),
    }
}

/// An optional field of a new resource: absent is none (`Some(None)`), a
/// value is parsed, its violation recorded under `field` (then `None`).
pub(crate) fn optional<T, E: Into<Violation>>(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<Option<T>> {
    match raw {
        None => Some(None),
        Some(raw) => errors
            .check(field, parse(raw).map_err(Into::into))
            .map(Some),
    }
}
