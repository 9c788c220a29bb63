//! Workspace tasks, run as `cargo xtask <task>` (an alias in
//! `.cargo/config.toml`).
//!
//! `cargo xtask scaffold <resource> <field>:<type>[?]... [--owned |
//! --public-read] [--singular <name>]` generates a resource through every
//! layer, registers it, and formats the result (see
//! `docs/adding-a-resource.md`).
#![allow(clippy::print_stdout)]

mod register;
mod render;
mod spec;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

use spec::Resource;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((task, rest)) if task == "scaffold" => match scaffold(rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("scaffold: {err}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask scaffold <resource> <field>:<type>[?]... \
                 [--owned | --public-read] [--singular <name>]\n\
                 types: string, text, int, bool, uuid, timestamp, money"
            );
            ExitCode::from(2)
        }
    }
}

/// The workspace root: the nearest directory, from the current one up, whose
/// `Cargo.toml` declares the workspace. Found at run time, not from where
/// the binary was built: copies of the workspace share a target directory
/// (and so this binary) in CI.
fn root() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("the current directory: {e}"))?;
    cwd.ancestors()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|manifest| manifest.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("no workspace Cargo.toml above {}", cwd.display()))
}

fn scaffold(args: &[String]) -> Result<(), String> {
    let r = spec::parse(args).map_err(|e| e.0)?;
    let root = root()?;
    let migration = migration_name(&root, &r)?;
    let p = &r.plural;
    let files: Vec<(String, String)> = vec![
        (
            format!("migrations/src/{migration}.rs"),
            render::migration::render(&r),
        ),
        (
            format!("crates/domain/src/{p}.rs"),
            render::domain::render(&r),
        ),
        (
            format!("crates/repository/src/entities/{p}.rs"),
            render::repository::entity(&r),
        ),
        (
            format!("crates/repository/src/{p}.rs"),
            render::repository::adapter(&r),
        ),
        (
            format!("crates/repository/tests/repository/{p}.rs"),
            render::repository_tests::render(&r),
        ),
        (
            format!("crates/service/src/{p}.rs"),
            render::service::render(&r),
        ),
        (
            format!("crates/http/src/{p}.rs"),
            render::http::handlers(&r),
        ),
        (
            format!("crates/http/tests/{p}.rs"),
            render::http_tests::render(&r),
        ),
        (format!("tests/tests/{p}.rs"), render::tests::render(&r)),
    ];
    // Refuse before writing anything.
    taken_at_run_time(&root, p)?;
    for (path, _) in &files {
        if root.join(path).exists() {
            return Err(format!("{path} already exists: nothing was written"));
        }
    }
    // Registered first: a registration that cannot be made leaves the
    // workspace untouched.
    register::register(&root, &r, &migration)?;
    for (path, text) in &files {
        fs::write(root.join(path), text).map_err(|e| format!("{path}: {e}"))?;
    }
    // Registrations land at the end of their lists; rustfmt sorts them.
    let fmt = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("fmt")
        .arg("--all")
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo fmt: {e}"))?;
    if !fmt.success() {
        return Err("cargo fmt failed on the generated code".into());
    }
    report(&r, &files);
    Ok(())
}

/// `m<today>_<next number>_create_<plural>`, numbered after the newest
/// migration.
fn migration_name(root: &Path, r: &Resource) -> Result<String, String> {
    let dir = root.join("migrations/src");
    let mut newest = 0;
    for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy();
        if let Some(number) = name
            .strip_prefix('m')
            .and_then(|rest| rest.split('_').nth(1))
            .and_then(|n| n.parse::<u32>().ok())
        {
            newest = newest.max(number);
        }
    }
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs()
        / 86_400;
    let (y, m, d) = civil(i64::try_from(days).map_err(|e| e.to_string())?);
    Ok(format!(
        "m{y:04}{m:02}{d:02}_{:06}_create_{}",
        newest + 1,
        r.plural
    ))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn report(r: &Resource, files: &[(String, String)]) {
    println!("Generated {} ({:?}):", r.plural, r.flavour);
    for (path, _) in files {
        println!("  created  {path}");
    }
    println!(
        "  registered in migrations/src/lib.rs, the domain, repository, service and http \
         lib.rs files, crates/repository/src/entities/mod.rs, crates/http/src/openapi.rs and \
         crates/app/src/startup.rs"
    );
    println!(
        "Next: `make check`, then read the generated code; routes are live under /api/v1/{} \
         and documented at /docs.",
        r.plural
    );
}

/// Refuses a resource whose route or table the workspace already has, even
/// where no module of that name exists (the blog's `/tags`, its `favorites`
/// table): the OpenAPI route list and the migrations' table list are the
/// contract tests' own, so they are always current.
fn taken_at_run_time(root: &std::path::Path, plural: &str) -> Result<(), String> {
    let checks = [
        (
            "crates/http/tests/openapi.rs",
            vec![
                format!("\"/api/v1/{plural}\""),
                format!("\"/api/v1/{plural}/"),
            ],
            "route",
        ),
        (
            "migrations/tests/migrations.rs",
            vec![format!("\"{plural}\"")],
            "table",
        ),
    ];
    for (path, needles, what) in checks {
        let text = fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
        if needles.iter().any(|needle| text.contains(needle.as_str())) {
            return Err(format!(
                "`{plural}` is already a {what} of Strata ({path}): choose another name; nothing was written"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{civil, taken_at_run_time};

    #[test]
    fn days_since_the_epoch_are_calendar_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_429), (2025, 12, 7));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn a_served_route_or_existing_table_is_taken() {
        let root = std::env::temp_dir().join(format!("xtask-taken-{}", std::process::id()));
        std::fs::create_dir_all(root.join("crates/http/tests")).unwrap();
        std::fs::create_dir_all(root.join("migrations/tests")).unwrap();
        std::fs::write(
            root.join("crates/http/tests/openapi.rs"),
            r#"("GET", "/api/v1/tags"), ("GET", "/api/v1/posts/{id}")"#,
        )
        .unwrap();
        std::fs::write(
            root.join("migrations/tests/migrations.rs"),
            r#"&["favorites"],"#,
        )
        .unwrap();
        assert!(
            taken_at_run_time(&root, "tags")
                .unwrap_err()
                .contains("route")
        );
        assert!(
            taken_at_run_time(&root, "posts")
                .unwrap_err()
                .contains("route")
        );
        assert!(
            taken_at_run_time(&root, "favorites")
                .unwrap_err()
                .contains("table")
        );
        assert!(taken_at_run_time(&root, "labels").is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
