//! Request bodies, judged in a fixed order so a client always hears about
//! the first thing that is wrong, named as precisely as it can be:
//!
//! 1. syntax: a body that is not JSON is malformed (400), whatever keys come
//!    before the break, so `{"title": "x",}` never reads as an unknown field;
//! 2. NUL: no string anywhere may hold one (422 naming the field; see
//!    `strata_domain::text` for why), checked before any typed field sees it;
//! 3. shape: a missing field, a wrong type, an unknown field or a value
//!    outside an enum is a 422 naming that field, with a stable code
//!    (`required`, `type`, `unknown`, `enum`); only a body that is not an
//!    object at all is reported on the field `body`.
//!
//! Rule violations (lengths, formats) come after, from the DTO's validators.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;
use strata_domain::text::CONTROL_CHARACTER;

use crate::error::{ApiError, FieldProblem};

/// Where a problem that no field can carry is reported.
const WHOLE_BODY: &str = "body";

/// Decodes a JSON body into `T`.
///
/// # Errors
/// [`ApiError::Malformed`] for broken syntax; [`ApiError::Validation`]
/// naming the field for NUL characters and shape errors.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also build a struct from an array, by position.
    let object = bytes.trim_ascii_start().first() == Some(&b'{');
    // `\u0000` is the only way JSON can carry NUL (a raw one is a syntax
    // error), so a body without that escape holds none.
    let maybe_nul = contains(bytes, br"\u0000");
    // One parse for a good body; a body that fails is judged again below,
    // in the order the module documents.
    let decoded = object.then(|| {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize::<_, T>(&mut deserializer)
            .map(|value| (value, deserializer.end().is_ok()))
    });
    let decoded = match decoded {
        Some(Ok((value, true))) if !maybe_nul => return Ok(value),
        other => other,
    };
    if let Err(err) = serde_json::from_slice::<IgnoredAny>(bytes) {
        return Err(ApiError::Malformed(format!(
            "The request body is not valid JSON: {err}."
        )));
    }
    if maybe_nul
        && let Ok(value) = serde_json::from_slice::<Value>(bytes)
        && let Some(field) = nul_field(&value, String::new())
    {
        return Err(ApiError::Validation(vec![FieldProblem {
            field: if field.is_empty() {
                WHOLE_BODY.to_owned()
            } else {
                field
            },
            code: CONTROL_CHARACTER.to_owned(),
            message: "must not contain the NUL character".to_owned(),
        }]));
    }
    match decoded {
        // Valid syntax, so trailing input cannot remain: only an escaped
        // backslash before `u0000` brought this body here.
        Some(Ok((value, _))) => Ok(value),
        Some(Err(err)) => {
            let path = err.path().to_string();
            Err(ApiError::Validation(vec![shape_problem(
                &path,
                &err.into_inner().to_string(),
            )]))
        }
        None => Err(ApiError::Validation(vec![FieldProblem {
            field: WHOLE_BODY.to_owned(),
            code: "type".to_owned(),
            message: "must be a JSON object".to_owned(),
        }])),
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into `T` (a flat
/// struct: every problem is on a top-level field).
///
/// # Errors
/// [`ApiError::Validation`] naming the missing or unknown field.
pub fn decode_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|err| ApiError::Validation(vec![shape_problem("", &err.to_string())]))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The path of the first string value holding NUL (`""` for the root).
fn nul_field(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then_some(path),
        Value::Array(values) => values
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_field(v, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(name, v)| {
            let path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            nul_field(v, path)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Turns serde's message for a shape error at `path` into a field problem.
///
/// serde's wording of these four errors is fixed by its `de::Error`
/// defaults (`missing_field`, `unknown_field`, `unknown_variant`,
/// `invalid_type`), which every format uses; anything else keeps its own
/// message under the code `type`.
fn shape_problem(path: &str, message: &str) -> FieldProblem {
    // serde_json appends the position, which means nothing to a form.
    let message = message.rsplit_once(" at line ").map_or(message, |(m, _)| m);
    let parent = if path == "." { "" } else { path };
    let field = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    let problem = |field: String, code: &str, message: String| FieldProblem {
        field,
        code: code.to_owned(),
        message,
    };
    if let Some((name, _)) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
    {
        return problem(field(name), "required", "is required".to_owned());
    }
    if let Some((name, rest)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        let accepted = rest.strip_prefix(", expected ").map_or_else(
            || "no fields are accepted here".to_owned(),
            |e| format!("expected {e}"),
        );
        // The path already ends at the unknown key.
        let name = if parent.ends_with(name) {
            parent.to_owned()
        } else {
            field(name)
        };
        return problem(
            name,
            "unknown",
            format!("is not a field of this request ({accepted})"),
        );
    }
    let whole_body = parent.is_empty();
    let at = |p: &str| {
        if whole_body {
            WHOLE_BODY.to_owned()
        } else {
            p.to_owned()
        }
    };
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return problem(at(parent), "enum", format!("must be {expected}"));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        return problem(at(parent), "type", format!("must be {expected}"));
    }
    problem(at(parent), "type", message.to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        title: String,
        count: Option<i64>,
        role: Option<Role>,
        tags: Option<Vec<Tag>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        User,
        Admin,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Tag {
        name: String,
    }

    fn problem(body: &str) -> (String, String, String) {
        match decode_json::<Item>(body.as_bytes()) {
            Err(ApiError::Validation(mut problems)) => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                let p = problems.remove(0);
                (p.field, p.code, p.message)
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn malformed(body: &str) -> bool {
        matches!(
            decode_json::<Item>(body.as_bytes()),
            Err(ApiError::Malformed(_))
        )
    }

    #[test]
    fn a_missing_field_is_named_and_required() {
        let (field, code, message) = problem("{}");
        assert_eq!((field.as_str(), code.as_str()), ("title", "required"));
        assert_eq!(message, "is required");
        let (field, code, _) = problem(r#"{"title": "x", "tags": [{}]}"#);
        assert_eq!(
            (field.as_str(), code.as_str()),
            ("tags[0].name", "required")
        );
    }

    #[test]
    fn a_wrong_type_is_named() {
        let (field, code, message) = problem(r#"{"title": 5}"#);
        assert_eq!((field.as_str(), code.as_str()), ("title", "type"));
        assert_eq!(message, "must be a string");
        let (field, code, _) = problem(r#"{"title": "x", "count": "many"}"#);
        assert_eq!((field.as_str(), code.as_str()), ("count", "type"));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let (field, code, message) = problem(r#"{"title": "x", "colour": "red"}"#);
        assert_eq!((field.as_str(), code.as_str()), ("colour", "unknown"));
        assert!(message.contains("`title`"), "{message}");
    }

    #[test]
    fn a_value_outside_an_enum_is_named_with_the_allowed_values() {
        let (field, code, message) = problem(r#"{"title": "x", "role": "superuser"}"#);
        assert_eq!((field.as_str(), code.as_str()), ("role", "enum"));
        assert!(
            message.contains("`user`") && message.contains("`admin`"),
            "{message}"
        );
    }

    #[test]
    fn only_a_body_that_is_not_an_object_is_reported_on_body() {
        for body in [r#"["x", null, null, null]"#, r#""x""#, "5", "null"] {
            let (field, code, message) = problem(body);
            assert_eq!((field.as_str(), code.as_str()), ("body", "type"), "{body}");
            assert_eq!(message, "must be a JSON object");
        }
    }

    #[test]
    fn syntax_is_judged_before_shape() {
        for body in [
            r#"{"colour": "red",}"#,
            r#"{"title": "x""#,
            r#"{"title": "x"} trailing"#,
            "",
            "{'title': 'x'}",
        ] {
            assert!(malformed(body), "{body:?}");
        }
    }

    #[test]
    fn nul_is_refused_in_any_string_and_named() {
        let (field, code, _) = problem(r#"{"title": "a\u0000b"}"#);
        assert_eq!(
            (field.as_str(), code.as_str()),
            ("title", CONTROL_CHARACTER)
        );
        let (field, _, _) = problem(r#"{"title": "x", "tags": [{"name": "\u0000"}]}"#);
        assert_eq!(field, "tags[0].name");
        // Even in a field the request does not know: NUL is judged first.
        let (field, _, _) = problem(r#"{"title": "x", "other": "\u0000"}"#);
        assert_eq!(field, "other");
        // An escaped backslash before `u0000` is not a NUL.
        assert!(decode_json::<Item>(br#"{"title": "\\u0000"}"#).is_ok());
    }

    mod arbitrary_input {
        use actix_web::ResponseError;
        use proptest::prelude::*;

        use super::*;

        /// Renders `err` as the client would see it and checks it is a
        /// problem document with the error's own status.
        fn assert_problem(err: &ApiError) {
            let response = err.error_response();
            let status = response.status();
            assert!(status.is_client_error(), "{status} for {err:?}");
            let bytes = futures_util::FutureExt::now_or_never(actix_web::body::to_bytes(
                response.into_body(),
            ))
            .unwrap()
            .unwrap();
            let problem: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(problem["status"], status.as_u16());
            assert!(problem["code"].is_string());
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            #[test]
            fn any_bytes_decode_or_yield_a_client_problem(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                if let Err(err) = decode_json::<Item>(&bytes) {
                    assert_problem(&err);
                }
                if let Err(err) = decode_form::<Item>(&bytes) {
                    assert_problem(&err);
                }
            }

            #[test]
            fn json_like_text_decodes_or_yields_a_client_problem(
                text in r#"[{}\[\]",:a-z0-9 \\u]{0,64}"#,
            ) {
                if let Err(err) = decode_json::<Item>(text.as_bytes()) {
                    assert_problem(&err);
                }
            }

            #[test]
            fn any_object_of_any_values_decodes_or_names_a_field(
                fields in proptest::collection::btree_map("[a-z_]{1,8}", any::<String>(), 0..5),
            ) {
                let body = serde_json::to_vec(&fields).unwrap();
                match decode_json::<Item>(&body) {
                    Ok(_) => {}
                    Err(ApiError::Validation(problems)) => {
                        prop_assert!(!problems.is_empty());
                        prop_assert!(problems.iter().all(|p| p.field != "body"), "{problems:?}");
                    }
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
            }
        }
    }

    #[test]
    fn form_fields_are_named_too() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Login {
            username: String,
            password: String,
        }
        match decode_form::<Login>(b"username=ada") {
            Err(ApiError::Validation(problems)) => {
                assert_eq!(problems[0].field, "password");
                assert_eq!(problems[0].code, "required");
            }
            other => panic!("{other:?}"),
        }
    }
}
