//! What every resource's bodies share: the tri-state field, the required
//! and clearable text fields, and Conduit's timestamps.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};
use strata_domain::ValidationErrors;
use strata_domain::validation::Violation;

/// Conduit's one message for a required field left empty.
pub const BLANK: &str = "can't be blank";

/// The violation of a required field that is absent, null or blank.
pub fn blank() -> Violation {
    Violation::new("blank", BLANK)
}

/// Deserialises a field that may be absent (`None`, with
/// `#[serde(default)]`), `null` (`Some(None)`) or a value
/// (`Some(Some(_))`); a plain `Option` cannot tell the first two apart, and
/// Conduit's `PUT` bodies give them different meanings.
///
/// # Errors
/// The value's own deserialisation error.
pub fn tri_state<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Whether a text field counts as left empty.
pub fn is_blank(raw: Option<&str>) -> bool {
    raw.is_none_or(|raw| raw.trim().is_empty())
}

/// Parses a required field: absent, null or blank records [`BLANK`];
/// otherwise `parse`'s violation, if any, is recorded under `field`.
pub fn required<T>(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, Violation>,
) -> Option<T> {
    match raw {
        Some(raw) if !raw.trim().is_empty() => errors.check(field, parse(raw)),
        _ => {
            errors.push(field, blank());
            None
        }
    }
}

/// Parses a field that null or blank clears: `Some(None)` to clear,
/// `Some(Some(_))` to set, `None` when `parse` refused it (recorded).
pub fn clearable<T>(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, Violation>,
) -> Option<Option<T>> {
    match raw {
        Some(raw) if !raw.trim().is_empty() => errors.check(field, parse(raw)).map(Some),
        _ => Some(None),
    }
}

/// RFC 3339 in UTC with milliseconds, as Conduit's clients parse it
/// (`2026-01-02T03:04:05.678Z`).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "tri_state")]
        bio: Option<Option<String>>,
    }

    fn probe(json: &str) -> Option<Option<String>> {
        serde_json::from_str::<Probe>(json).map(|p| p.bio).unwrap()
    }

    #[test]
    fn absent_null_and_a_value_are_three_different_things() {
        assert_eq!(probe("{}"), None);
        assert_eq!(probe(r#"{"bio":null}"#), Some(None));
        assert_eq!(probe(r#"{"bio":"hi"}"#), Some(Some("hi".into())));
    }

    #[test]
    fn blank_required_fields_say_so_and_blank_clearable_ones_clear() {
        let mut errors = ValidationErrors::default();
        let parse = |raw: &str| Ok::<_, Violation>(raw.to_owned());
        assert_eq!(required(&mut errors, "title", Some("  "), parse), None);
        assert_eq!(required(&mut errors, "body", None, parse), None);
        assert_eq!(errors.0.len(), 2);
        assert!(errors.0.iter().all(|e| e.message == BLANK));
        assert_eq!(clearable(&mut errors, "bio", Some(""), parse), Some(None));
        assert_eq!(clearable(&mut errors, "bio", None, parse), Some(None));
        assert_eq!(errors.0.len(), 2);
    }

    #[test]
    fn timestamps_have_milliseconds_and_a_z() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(timestamp(at), "2026-01-02T03:04:05.000Z");
    }
}
