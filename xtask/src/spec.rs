//! What `scaffold` was asked for: the resource's names, flavour and fields,
//! checked before anything is written.

use std::fmt;

/// Who may read and write the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Reference data: signed-in users read, admins write.
    Admin,
    /// `--owned`: each row belongs to its creator; others' rows are 404.
    Owned,
    /// `--public-read`: anyone reads; signed-in users create; the author or
    /// an admin changes and deletes.
    PublicRead,
}

impl Flavour {
    pub fn has_owner(self) -> bool {
        self != Self::Admin
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Text,
    Int,
    Bool,
    Uuid,
    Timestamp,
    Money,
}

impl Kind {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "string" => Self::String,
            "text" => Self::Text,
            "int" => Self::Int,
            "bool" => Self::Bool,
            "uuid" => Self::Uuid,
            "timestamp" => Self::Timestamp,
            "money" => Self::Money,
            _ => return None,
        })
    }

    /// Text that `q` searches.
    pub fn searchable(self) -> bool {
        matches!(self, Self::String | Self::Text)
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    /// snake_case, as in JSON and SQL.
    pub name: String,
    pub kind: Kind,
    pub optional: bool,
}

impl Field {
    pub fn camel(&self) -> String {
        camel(&self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Resource {
    /// snake_case plural: the table, the module and the path (`/api/v1/{plural}`).
    pub plural: String,
    /// snake_case singular.
    pub singular: String,
    pub flavour: Flavour,
    pub fields: Vec<Field>,
}

impl Resource {
    /// The entity's type name (`Tag`).
    pub fn ty(&self) -> String {
        camel(&self.singular)
    }

    /// The table's identifier enum in migrations (`Tags`).
    pub fn table_ident(&self) -> String {
        camel(&self.plural)
    }

    pub fn searchable(&self) -> bool {
        self.fields.iter().any(|f| f.kind.searchable())
    }

    pub fn uses(&self, kind: Kind) -> bool {
        self.fields.iter().any(|f| f.kind == kind)
    }
}

#[derive(Debug)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Columns every resource has, which fields may not reuse.
const RESERVED: &[&str] = &[
    "id",
    "owner_id",
    "version",
    "created_at",
    "updated_at",
    "q",
    "sort",
    "limit",
    "offset",
    "type",
    "self",
    "super",
    "crate",
    "mod",
    "fn",
    "impl",
    "struct",
    "enum",
    "match",
    "ref",
    "move",
    "async",
    "await",
    "loop",
    "where",
    "use",
    "in",
    "as",
    "let",
];

/// Names of modules and routes that already exist and no resource may take.
const TAKEN: &[&str] = &[
    "users",
    "items",
    "posts",
    "comments",
    "tags",
    "favorites",
    "follows",
    "profiles",
    "conduit",
    "auth",
    "accounts",
    "jobs",
    "notifications",
    "realtime",
    "catalog",
    "categories",
    "products",
    "orders",
    "health",
    "oidc",
    "idempotency",
    "events",
    "files",
    "fields",
    "page",
    "text",
    "validation",
    "error",
    "metrics",
    "docs",
];

fn snake(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

pub fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `tags` → `tag`, `categories` → `category`, `boxes` → `box`.
fn singular_of(plural: &str) -> Option<String> {
    if let Some(stem) = plural.strip_suffix("ies") {
        return Some(format!("{stem}y"));
    }
    for suffix in ["sses", "shes", "ches", "xes"] {
        if plural.ends_with(suffix) {
            return Some(plural[..plural.len() - 2].to_owned());
        }
    }
    plural
        .strip_suffix('s')
        .filter(|stem| !stem.ends_with('s'))
        .map(str::to_owned)
}

/// Parses `<resource> <field>:<type>[?]... [--owned | --public-read]
/// [--singular <name>]`.
///
/// # Errors
/// A [`SpecError`] saying what is wrong, before anything is written.
pub fn parse(args: &[String]) -> Result<Resource, SpecError> {
    let mut plural = None;
    let mut singular = None;
    let mut flavour = Flavour::Admin;
    let mut fields: Vec<Field> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--owned" | "--public-read" if flavour != Flavour::Admin => {
                return Err(SpecError(
                    "give at most one of --owned and --public-read".into(),
                ));
            }
            "--owned" => flavour = Flavour::Owned,
            "--public-read" => flavour = Flavour::PublicRead,
            "--singular" => {
                singular = Some(
                    args.next()
                        .ok_or_else(|| SpecError("--singular needs a name".into()))?
                        .clone(),
                );
            }
            flag if flag.starts_with("--") => {
                return Err(SpecError(format!("unknown option {flag}")));
            }
            resource if plural.is_none() => plural = Some(resource.to_owned()),
            field => fields.push(parse_field(field)?),
        }
    }
    let plural = plural.ok_or_else(|| SpecError("name the resource (plural, e.g. tags)".into()))?;
    if !snake(&plural) {
        return Err(SpecError(format!(
            "the resource `{plural}` must be snake_case (a-z, 0-9, _)"
        )));
    }
    if TAKEN.contains(&plural.as_str()) {
        return Err(SpecError(format!("`{plural}` is already a Strata module")));
    }
    let singular = match singular {
        Some(singular) => singular,
        None => singular_of(&plural).ok_or_else(|| {
            SpecError(format!(
                "cannot tell the singular of `{plural}`: give --singular <name>"
            ))
        })?,
    };
    if !snake(&singular) || singular == plural {
        return Err(SpecError(format!(
            "the singular `{singular}` must be snake_case and differ from `{plural}`"
        )));
    }
    if fields.is_empty() {
        return Err(SpecError(
            "give at least one field, e.g. name:string".into(),
        ));
    }
    for (i, field) in fields.iter().enumerate() {
        if fields[..i].iter().any(|f| f.name == field.name) {
            return Err(SpecError(format!(
                "the field `{}` is given twice",
                field.name
            )));
        }
    }
    Ok(Resource {
        plural,
        singular,
        flavour,
        fields,
    })
}

fn parse_field(raw: &str) -> Result<Field, SpecError> {
    let (name, ty) = raw
        .split_once(':')
        .ok_or_else(|| SpecError(format!("`{raw}`: write a field as name:type")))?;
    let (ty, optional) = match ty.strip_suffix('?') {
        Some(ty) => (ty, true),
        None => (ty, false),
    };
    if !snake(name) || RESERVED.contains(&name) {
        return Err(SpecError(format!(
            "`{name}`: a field name must be snake_case and not one of {}",
            RESERVED.join(", ")
        )));
    }
    let kind = Kind::parse(ty).ok_or_else(|| {
        SpecError(format!(
            "`{raw}`: the type must be string, text, int, bool, uuid, timestamp or money \
             (add ? for optional)"
        ))
    })?;
    Ok(Field {
        name: name.to_owned(),
        kind,
        optional,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_resource_with_optional_fields_and_a_flavour() {
        let spec = parse(&args("book_notes title:string body:text? --owned")).unwrap();
        assert_eq!(spec.singular, "book_note");
        assert_eq!(spec.ty(), "BookNote");
        assert_eq!(spec.flavour, Flavour::Owned);
        assert!(spec.fields[1].optional);
        assert_eq!(spec.fields[1].kind, Kind::Text);
    }

    #[test]
    fn singulars_of_common_plurals() {
        assert_eq!(singular_of("categories").unwrap(), "category");
        assert_eq!(singular_of("boxes").unwrap(), "box");
        assert_eq!(singular_of("tags").unwrap(), "tag");
        assert_eq!(singular_of("labels").unwrap(), "label");
        assert!(singular_of("glass").is_none());
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for (line, says) in [
            ("labels", "at least one field"),
            ("Labels name:string", "snake_case"),
            ("items name:string", "already"),
            ("labels id:uuid", "snake_case and not one of"),
            ("labels name:float", "the type must be"),
            ("labels name:string name:text", "twice"),
            ("labels name:string --owned --public-read", "at most one"),
            ("labels name", "name:type"),
            ("tags name:string", "already"),
        ] {
            let err = parse(&args(line)).unwrap_err();
            assert!(err.0.contains(says), "{line}: {err}");
        }
    }
}
