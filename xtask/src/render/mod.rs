//! The generated files, one module per layer. Templates are plain Rust
//! with `__Name__` placeholders, so they read (and diff) like the code
//! they produce; what depends on the fields is built by small functions.

pub mod domain;
pub mod http;
pub mod http_fields;
pub mod http_tests;
pub mod migration;
pub mod repository;
pub mod repository_tests;
pub mod service;
pub mod service_tests;
pub mod tests;

use crate::spec::{Field, Flavour, Kind, Resource};

/// Fills the placeholders every template shares.
pub fn fill(template: &str, r: &Resource) -> String {
    template
        .replace("__Types__", &r.table_ident())
        .replace("__Type__", &r.ty())
        .replace("__types__", &r.plural)
        .replace("__type__", &r.singular)
}

/// Keeps the lines of `template` between `#if NAME` and `#end NAME` when
/// `keep`, and drops them otherwise; the markers go either way.
pub fn section(template: &str, name: &str, keep: bool) -> String {
    let (open, close) = (format!("#if {name}"), format!("#end {name}"));
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for line in template.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed == open {
            inside = true;
        } else if trimmed == close {
            inside = false;
        } else if !inside || keep {
            out.push_str(line);
        }
    }
    out
}

/// The sections every layer's template may use.
pub fn sections(template: &str, r: &Resource) -> String {
    let t = section(template, "owner", r.flavour.has_owner());
    let t = section(&t, "owned", r.flavour == Flavour::Owned);
    let t = section(&t, "public", r.flavour == Flavour::PublicRead);
    let t = section(&t, "admin", r.flavour == Flavour::Admin);
    let t = section(&t, "not_public", r.flavour != Flavour::PublicRead);
    let t = section(&t, "not_owned", r.flavour != Flavour::Owned);
    let t = section(&t, "search", r.searchable());
    let t = section(&t, "no_search", !r.searchable());
    fill(&t, r)
}

/// One line per field, joined.
pub fn each(r: &Resource, line: impl Fn(&Field) -> String) -> String {
    r.fields.iter().map(line).collect()
}

/// The domain type of a field (before `Option`).
pub fn domain_type(r: &Resource, f: &Field) -> String {
    match f.kind {
        Kind::String | Kind::Text => format!("{}{}", r.ty(), f.camel()),
        Kind::Int => "i64".into(),
        Kind::Bool => "bool".into(),
        Kind::Uuid => "Uuid".into(),
        Kind::Timestamp => "DateTime<Utc>".into(),
        Kind::Money => "Price".into(),
    }
}

/// Wrapped in `Option` when the field is optional.
pub fn optional(f: &Field, ty: String) -> String {
    if f.optional {
        format!("Option<{ty}>")
    } else {
        ty
    }
}

/// A sample JSON value of the field, valid for create.
pub fn sample(f: &Field, n: u32) -> String {
    match f.kind {
        Kind::String => format!("\"{} {n}\"", f.name.replace('_', " ")),
        Kind::Text => format!(
            "\"Some {} text, {n}.\\nSecond line.\"",
            f.name.replace('_', " ")
        ),
        Kind::Int => format!("{}", 40 + n),
        Kind::Bool => "true".into(),
        Kind::Uuid => "\"0190b5a0-0000-7000-8000-000000000001\"".into(),
        Kind::Timestamp => "\"2026-12-07T10:00:00Z\"".into(),
        Kind::Money => format!("{}", 1999 + n),
    }
}
