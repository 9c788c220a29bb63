//! The one-line registrations of a new resource in files that exist: each
//! is inserted after an anchor that every such file keeps, so a renamed
//! anchor fails loudly instead of registering nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::spec::Resource;

/// An insertion: after the last line starting with `after` (ignoring
/// indentation) in the region from the first line containing `within` (or
/// the top) to the next line starting with `until` (or the end).
struct Insert<'a> {
    file: &'a str,
    within: Option<&'a str>,
    until: Option<&'a str>,
    after: &'a str,
    line: String,
}

fn apply(text: &str, insert: &Insert<'_>) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = match insert.within {
        Some(marker) => lines
            .iter()
            .position(|l| l.contains(marker))
            .ok_or_else(|| format!("{}: no line contains `{marker}`", insert.file))?,
        None => 0,
    };
    let mut at = None;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let line = line.trim_start();
        if i > start && insert.until.is_some_and(|until| line.starts_with(until)) {
            break;
        }
        if line.starts_with(insert.after) {
            at = Some(i);
        }
    }
    let at = at.ok_or_else(|| {
        format!(
            "{}: found no `{}` to register after",
            insert.file, insert.after
        )
    })?;
    if lines.iter().any(|l| l.trim() == insert.line.trim()) {
        return Err(format!(
            "{}: already registers `{}`",
            insert.file,
            insert.line.trim()
        ));
    }
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    out.insert(at + 1, insert.line.clone());
    Ok(out.join("\n") + "\n")
}

/// The fuzzer's expectations for the resource, as `fuzz/schemathesis.toml`
/// sets them for hand-written ones: a well-formed `If-Match` naming another
/// version is answered 412, and (with integer fields) a whole number written
/// with a fraction (`640.0`, an integer to JSON Schema) is refused 422 naming
/// its field.
fn fuzz_settings(r: &Resource) -> Insert<'static> {
    let p = &r.plural;
    let integers = r
        .fields
        .iter()
        .any(|f| matches!(f.kind, crate::spec::Kind::Int | crate::spec::Kind::Money));
    let accepted = |extra: &str| {
        format!(
            "checks.positive_data_acceptance.expected-statuses = \
             [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", {extra}\"429\", \"5xx\"]"
        )
    };
    let mut line = format!(
        "\n# {p} (cargo xtask scaffold): a stale well-formed If-Match is answered 412{}.\n\
         [[operations]]\ninclude-name = \"PATCH /api/v1/{p}/{{id}}\"\n{}",
        if integers {
            "; an integral number with a fraction (640.0) is refused 422 naming its field"
        } else {
            ""
        },
        accepted(if integers {
            "\"412\", \"422\", "
        } else {
            "\"412\", "
        })
    );
    if integers {
        line.push_str(&format!(
            "\n\n[[operations]]\ninclude-name = \"POST /api/v1/{p}\"\n{}",
            accepted("\"422\", ")
        ));
    }
    Insert {
        file: "fuzz/schemathesis.toml",
        within: None,
        until: None,
        after: "checks.positive_data_acceptance.expected-statuses",
        line,
    }
}

/// Registers the resource in every layer; `migration` is the new
/// migration's module name.
///
/// # Errors
/// The first registration that found no anchor; nothing is edited then.
pub fn register(root: &Path, r: &Resource, migration: &str) -> Result<(), String> {
    let (p, t) = (&r.plural, r.ty());
    let mut edits = vec![
        Insert {
            file: "migrations/src/lib.rs",
            within: None,
            until: None,
            after: "mod m2",
            line: format!("mod {migration};"),
        },
        Insert {
            file: "migrations/src/lib.rs",
            within: Some("fn migrations()"),
            until: Some("]"),
            after: "Box::new(m2",
            line: format!("            Box::new({migration}::Migration),"),
        },
        Insert {
            file: "crates/domain/src/lib.rs",
            within: None,
            until: None,
            after: "pub mod ",
            line: format!("pub mod {p};"),
        },
        Insert {
            file: "crates/repository/src/entities/mod.rs",
            within: None,
            until: None,
            after: "pub(crate) mod ",
            line: format!("pub(crate) mod {p};"),
        },
        Insert {
            file: "crates/repository/src/lib.rs",
            within: None,
            until: None,
            after: "mod ",
            line: format!("mod {p};"),
        },
        Insert {
            file: "crates/repository/src/lib.rs",
            within: None,
            until: None,
            after: "pub use ",
            line: format!("pub use {p}::Sea{t}Repository;"),
        },
        Insert {
            file: "crates/repository/tests/repository/main.rs",
            within: None,
            until: None,
            after: "mod ",
            line: format!("mod {p};"),
        },
        Insert {
            file: "crates/service/src/lib.rs",
            within: None,
            until: None,
            after: "pub mod ",
            line: format!("pub mod {p};"),
        },
        Insert {
            file: "crates/service/src/lib.rs",
            within: None,
            until: None,
            after: "pub use strata_domain as domain;",
            line: format!("pub use {p}::{{{t}Draft, {t}Service, {t}ServiceImpl}};"),
        },
        Insert {
            file: "crates/http/src/lib.rs",
            within: None,
            until: None,
            after: "pub mod ",
            line: format!("pub mod {p};"),
        },
        Insert {
            file: "crates/http/src/lib.rs",
            within: Some("pub struct AppState {"),
            until: Some("}"),
            after: "pub ",
            line: format!("    pub {p}: Arc<dyn strata_service::{t}Service>,"),
        },
        Insert {
            file: "crates/http/src/lib.rs",
            within: Some("pub fn mocked() -> Self {"),
            until: None,
            after: "auth: Arc::new(MockAuthService::new()),",
            line: format!("            {p}: Arc::new(strata_service::{p}::Mock{t}Service::new()),"),
        },
        Insert {
            file: "crates/http/src/lib.rs",
            within: None,
            until: None,
            after: ".configure(auth::configure)",
            line: format!("                .configure({p}::configure)"),
        },
        Insert {
            file: "crates/http/src/openapi.rs",
            within: Some("tags("),
            until: Some(")"),
            after: "(name = ",
            line: format!(
                "        (name = \"{p}\", description = \"{t} resources (generated by cargo xtask scaffold)\"),"
            ),
        },
        Insert {
            file: "crates/app/src/startup.rs",
            within: None,
            until: None,
            after: "let state = AppState {",
            line: format!(
                "        {p}: Arc::new(strata_service::{t}ServiceImpl::new(Arc::new(strata_repository::Sea{t}Repository::new(db.clone())))),"
            ),
        },
        // The contract tests list every table and route: a new resource
        // adds its own.
        Insert {
            file: "migrations/tests/migrations.rs",
            within: Some("const CREATES"),
            until: Some("];"),
            after: "&[",
            line: format!("    &[\"{p}\"],"),
        },
        Insert {
            file: "crates/app/tests/migrate.rs",
            within: Some("const CREATES"),
            until: Some("];"),
            after: "&[",
            line: format!("    &[\"{p}\"],"),
        },
        Insert {
            file: "crates/http/tests/openapi.rs",
            within: Some("fn the_document_lists_exactly_the_contracts_routes"),
            until: Some("]"),
            after: "(\"",
            line: ["GET", "POST"]
                .map(|m| format!("        (\"{m}\", \"/api/v1/{p}\"),"))
                .into_iter()
                .chain(
                    ["GET", "PATCH", "DELETE"]
                        .map(|m| format!("        (\"{m}\", \"/api/v1/{p}/{{id}}\"),")),
                )
                .collect::<Vec<_>>()
                .join("\n"),
        },
    ];
    edits.push(fuzz_settings(r));
    // Every insertion is made in memory first, so a missing anchor leaves
    // every file as it was.
    let mut edited: BTreeMap<&str, String> = BTreeMap::new();
    for insert in &edits {
        let text = match edited.remove(insert.file) {
            Some(text) => text,
            None => fs::read_to_string(root.join(insert.file))
                .map_err(|e| format!("{}: {e}", insert.file))?,
        };
        edited.insert(insert.file, apply(&text, insert)?);
    }
    for (file, text) in edited {
        fs::write(root.join(file), text).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(())
}
