//! Modules within the `http` crate import each other in no circle (issue
//! #17): a module can then be read, changed and tested knowing only what it
//! imports. The graph is read from the sources, as a reviewer would: module
//! `a` depends on `b` when a line of `a` (comments aside) names `crate::b`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The crate's top-level modules and the top-level modules each one names.
/// A directory module counts as one (`metrics/requests.rs` is `metrics`), and
/// `x_tests.rs` counts as `x`.
fn graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let first = first.to_str().unwrap();
        let module = first.strip_suffix(".rs").unwrap_or(first);
        let module = module.strip_suffix("_tests").unwrap_or(module);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let names = graph.entry(module.to_owned()).or_default();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    names.insert(name);
                }
            }
        }
    }
    // Names that are not modules (`crate::AppState`, functions of lib.rs).
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for names in graph.values_mut() {
        names.retain(|n| modules.contains(n));
    }
    graph
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

/// Every circle, as the sorted list of the modules on it (the strongly
/// connected components of more than one module).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    // Modules reachable from each module, then those that reach back.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(module) = todo.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut found = BTreeSet::new();
    for (module, reached) in &reachable {
        let circle: Vec<String> = reached
            .iter()
            .filter(|other| reachable[other].contains(*module))
            .cloned()
            .collect();
        if circle.len() > 1 {
            found.insert(circle);
        }
    }
    found.into_iter().collect()
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(name)
        .join("src")
}

#[test]
fn the_http_crate_has_no_circular_imports() {
    let graph = graph(&crate_src("http"));
    assert!(graph.contains_key("error") && graph.contains_key("middleware"));
    let found = circles(&graph);
    assert!(found.is_empty(), "http modules in circles: {found:?}");
    // The error type is a leaf in all but name: it only uses modules that
    // import nothing of the crate.
    for used in &graph["error"] {
        assert!(
            graph[used].is_empty(),
            "error uses {used}, which imports {:?}",
            graph[used]
        );
    }
}

#[test]
fn the_check_finds_a_circle() {
    let graph = Graph::from([
        ("a".into(), BTreeSet::from(["b".into()])),
        ("b".into(), BTreeSet::from(["c".into()])),
        ("c".into(), BTreeSet::from(["a".into()])),
        ("d".into(), BTreeSet::from(["a".into()])),
    ]);
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
}
