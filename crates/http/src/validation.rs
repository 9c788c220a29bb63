//! `validator` custom rules that delegate to the domain's value objects, so a
//! rule is written once (in `strata-domain`) and enforced at the edge with
//! per-field error reporting.

use std::borrow::Cow;

use strata_domain::items::{Description, Title};
use strata_domain::posts::{self, Body};
use strata_domain::text::{self, Lines};
use strata_domain::users::{Email, FullName, Password, Username};
use strata_domain::validation::Violation;
use validator::ValidationError;

fn to_validator<T>(result: Result<T, Violation>) -> Result<(), ValidationError> {
    result
        .map(drop)
        .map_err(|v| ValidationError::new(v.code).with_message(Cow::Owned(v.message)))
}

pub fn email(value: &str) -> Result<(), ValidationError> {
    to_validator(Email::parse(value))
}

pub fn username(value: &str) -> Result<(), ValidationError> {
    to_validator(Username::parse(value))
}

pub fn password(value: &str) -> Result<(), ValidationError> {
    to_validator(Password::parse(value))
}

pub fn full_name(value: &str) -> Result<(), ValidationError> {
    to_validator(FullName::parse(value))
}

pub fn title(value: &str) -> Result<(), ValidationError> {
    to_validator(Title::parse(value))
}

pub fn description(value: &str) -> Result<(), ValidationError> {
    to_validator(Description::parse(value))
}

pub fn post_body(value: &str) -> Result<(), ValidationError> {
    to_validator(Body::parse(value, Body::POST_MAX))
}

pub fn comment_body(value: &str) -> Result<(), ValidationError> {
    to_validator(Body::parse(value, Body::COMMENT_MAX))
}

pub fn post_description(value: &str) -> Result<(), ValidationError> {
    to_validator(posts::Description::parse(value))
}

pub fn tags(value: &[String]) -> Result<(), ValidationError> {
    to_validator(tag_list(value))
}

pub use strata_domain::posts::tag_list;

/// 1..=`max` characters under the text rule `lines`, for fields that have no
/// value object because they are only looked up.
fn looked_up(value: &str, max: usize, lines: Lines) -> Result<(), ValidationError> {
    let len = value.chars().count();
    if len == 0 || len > max {
        return Err(ValidationError::new("length")
            .with_message(Cow::Owned(format!("must be 1 to {max} characters"))));
    }
    to_validator(text::check(value, lines))
}

/// For fields that are only checked against stored state (a login password):
/// bounded so nobody makes the server hash a megabyte, and free of NUL.
pub fn bounded_secret(value: &str) -> Result<(), ValidationError> {
    looked_up(value, 1024, Lines::Secret)
}

/// A token from a verification or reset mail, only looked up (by hash).
pub fn account_token(value: &str) -> Result<(), ValidationError> {
    looked_up(value, 256, Lines::Single)
}

/// A login name: a username or an e-mail address, only looked up.
pub fn login(value: &str) -> Result<(), ValidationError> {
    looked_up(value, 254, Lines::Single)
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`), which PATCH semantics need.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
