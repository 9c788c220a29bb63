//! How each field type crosses HTTP: its JSON type, its documented bounds,
//! and the DTOs' conversion to domain values.

use super::{domain_type, each};
use crate::spec::{Field, Kind, Resource};

/// The JSON type of a field (before `Option`).
pub(super) fn json_type(f: &Field) -> &'static str {
    match f.kind {
        Kind::String | Kind::Text => "String",
        Kind::Int | Kind::Money => "i64",
        Kind::Bool => "bool",
        Kind::Uuid => "Uuid",
        Kind::Timestamp => "DateTime<Utc>",
    }
}

/// The field's `#[schema(...)]` bounds, documenting its rule.
pub(super) fn schema(f: &Field, value_type: Option<String>) -> String {
    let mut parts = Vec::new();
    if let Some(value_type) = value_type {
        parts.push(format!("value_type = {value_type}"));
    }
    match f.kind {
        Kind::String => {
            parts.push("min_length = 1, max_length = 200".to_owned());
            parts.push(r#"pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$""#.to_owned());
        }
        Kind::Text => {
            parts.push("max_length = 10000".to_owned());
            parts.push(
                r#"pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$""#
                    .to_owned(),
            );
        }
        // The catalog's `MAX_PRICE`.
        Kind::Money => parts.push("minimum = 0, maximum = 1000000000000_i64".to_owned()),
        _ => {}
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("    #[schema({})]\n", parts.join(", "))
    }
}

/// The parse of a JSON value `v` into the domain type, if it needs one.
pub(super) fn parse(r: &Resource, f: &Field, v: &str) -> Option<String> {
    match f.kind {
        Kind::String | Kind::Text => Some(format!("{}::parse(&{v})", domain_type(r, f))),
        Kind::Money => Some(format!("Price::parse({v})")),
        _ => None,
    }
}

pub(super) fn to_json(f: &Field) -> String {
    let n = &f.name;
    match (f.kind, f.optional) {
        (Kind::String | Kind::Text, false) => format!("row.{n}.as_str().to_owned()"),
        (Kind::String | Kind::Text, true) => {
            format!("row.{n}.as_ref().map(|v| v.as_str().to_owned())")
        }
        (Kind::Money, false) => format!("row.{n}.minor_units()"),
        (Kind::Money, true) => format!("row.{n}.map(|v| v.minor_units())"),
        _ => format!("row.{n}"),
    }
}

/// The DTOs' `try_into_domain`: every field that has a rule beyond its
/// JSON type is parsed, every violation collected, then all or nothing.
pub(super) fn conversions(r: &Resource) -> String {
    let parsed: Vec<&Field> = r
        .fields
        .iter()
        .filter(|f| parse(r, f, "v").is_some())
        .collect();
    let value = |f: &Field| {
        if parse(r, f, "v").is_some() {
            format!("{n},", n = f.name)
        } else {
            format!("{n}: self.{n},", n = f.name)
        }
    };
    let fields = |indent: &str| each(r, |f| format!("{indent}{}\n", value(f)));
    let (create, update) = if parsed.is_empty() {
        // Every rule is the field's JSON type, already checked in decoding.
        (
            format!(
                "        Ok(__Type__Draft {{\n{}        }})\n",
                fields("            ")
            ),
            format!(
                "        Ok(__Type__Changes {{\n{}        }})\n",
                fields("            ")
            ),
        )
    } else {
        let create_checks: String = parsed
            .iter()
            .map(|f| {
                let n = &f.name;
                let p = parse(r, f, "v").unwrap_or_default();
                if f.optional {
                    format!(
                        "        let {n} = match self.{n} {{\n            \
                         Some(v) => errors.check(\"{n}\", {p}).map(Some),\n            \
                         None => Some(None),\n        }};\n"
                    )
                } else {
                    let own = p
                        .replace("&v", &format!("&self.{n}"))
                        .replace("(v)", &format!("(self.{n})"));
                    format!("        let {n} = errors.check(\"{n}\", {own});\n")
                }
            })
            .collect();
        let names: Vec<&str> = parsed.iter().map(|f| f.name.as_str()).collect();
        let somes: Vec<String> = names.iter().map(|n| format!("Some({n})")).collect();
        let (checked, matched) = if names.len() == 1 {
            (names[0].to_owned(), somes[0].clone())
        } else {
            (
                format!("({})", names.join(", ")),
                format!("({})", somes.join(", ")),
            )
        };
        let update_checks: String = parsed
            .iter()
            .map(|f| {
                let n = &f.name;
                let p = parse(r, f, "v").unwrap_or_default();
                if f.optional {
                    format!(
                        "        let {n} = match self.{n} {{\n            None => None,\n            \
                         Some(None) => Some(None),\n            \
                         Some(Some(v)) => errors.check(\"{n}\", {p}).map(Some),\n        }};\n"
                    )
                } else {
                    format!(
                        "        let {n} = self.{n}.and_then(|v| errors.check(\"{n}\", {p}));\n"
                    )
                }
            })
            .collect();
        (
            format!(
                "        let mut errors = ValidationErrors::default();\n{create_checks}        \
                 match {checked} {{\n            {matched} => Ok(__Type__Draft {{\n{}            }}),\n            \
                 _ => Err(errors),\n        }}\n",
                fields("                ")
            ),
            format!(
                "        let mut errors = ValidationErrors::default();\n{update_checks}        \
                 errors.into_result()?;\n        Ok(__Type__Changes {{\n{}        }})\n",
                fields("            ")
            ),
        )
    };
    format!(
        "impl Create__Type__Request {{\n    \
         fn try_into_domain(self) -> Result<__Type__Draft, ValidationErrors> {{\n{create}    }}\n}}\n\n\
         impl Update__Type__Request {{\n    \
         fn try_into_domain(self) -> Result<__Type__Changes, ValidationErrors> {{\n{update}    }}\n}}"
    )
}
