//! Every repository write goes through the write gate (issue #17). A write
//! transaction cannot skip it: `BEGIN IMMEDIATE` is private to the
//! repository's `tx/` module, and a `WriteTxn` owns its place in the queue.
//! A single statement run on the repository's own connection could: on
//! SQLite it would meet the busy back-off instead of the queue, and cached
//! list totals would miss it. This reads the sources for such statements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Statement runs that write, on the repository's connection rather than
/// on a `Writer`, a `WriteTxn` or through `WriteGate::execute`.
fn ungated_writes(source: &str) -> Vec<String> {
    const WRITES: [&str; 4] = [
        ".exec(",
        ".exec_without_returning(",
        ".exec_with_returning(",
        ".execute_raw(",
    ];
    const CONNECTIONS: [&str; 4] = ["&self.db)", "&repo.db)", "self.db)", "repo.db)"];
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| {
            WRITES.iter().any(|write| {
                line.match_indices(write).any(|(at, _)| {
                    let argument = &line[at + write.len()..];
                    CONNECTIONS.iter().any(|c| argument.starts_with(c))
                })
            })
        })
        .map(|line| line.trim().to_owned())
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_repository_statement_writes_around_the_gate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/repository/src");
    let mut found = Vec::new();
    for file in rust_files(&src) {
        // The gate itself runs what it is handed.
        if file.components().any(|c| c.as_os_str() == "tx") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for line in ungated_writes(&text) {
            found.push(format!("{}: {line}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "writes on the connection itself (use self.writes.execute, .grouped, .begin or .enter):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_a_write_around_the_gate_and_not_one_through_it() {
    let source = "
        items::Entity::delete_by_id(id)
            .exec(&self.db)
        let db = self.writes.enter(&self.db).await?;
        update.exec(&db).await
        // .exec(&self.db) in a comment
        self.writes.execute(&self.db, insert, \"Failed\").await?;
        let rows = select.all(&self.db).await?;
    ";
    assert_eq!(ungated_writes(source), vec![".exec(&self.db)"]);
}
