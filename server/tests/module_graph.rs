//! The server's modules form no import cycle: every `crate::<module>` reference in
//! `server/src` is an edge from the referring top-level module to the named one, and the
//! resulting graph must be acyclic. Items at the crate root (`crate::now`) are not modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code without `//` comments (doc comments name modules in prose).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment of every `crate::…` reference, including each item of a
/// `crate::{a, b::c}` group.
fn crate_references(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Items at depth 1 of the group: the identifier after `{` or each `,`.
            let mut depth = 1;
            let mut item_start = true;
            let mut ident = String::new();
            for c in group.chars() {
                if item_start && depth == 1 {
                    if c.is_alphanumeric() || c == '_' {
                        ident.push(c);
                    } else if !ident.is_empty() {
                        found.push(std::mem::take(&mut ident));
                        item_start = false;
                    }
                }
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        } else {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(ident);
        }
    }
    found
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn server_modules_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let modules: BTreeSet<String> = code(&lib)
        .lines()
        .filter_map(|l| {
            let l = l
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect();
    assert!(modules.len() > 10, "lib.rs modules not found: {modules:?}");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("name");
        let from = first.trim_end_matches(".rs").to_owned();
        if from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        let edges = graph.entry(from.clone()).or_default();
        for to in crate_references(&code(&text)) {
            if to != from && modules.contains(&to) {
                edges.insert(to);
            }
        }
    }
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 20, "suspiciously few edges found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between server modules: {}", cycle.join(" → "));
    }
}

#[test]
fn the_reference_parser_reads_groups_and_paths() {
    let refs = crate_references(
        "use crate::{credentials, crypto::{self, SealKey}};\nlet x = crate::now();\n\
         use crate::state::AppState; some_crate::x; $crate::y",
    );
    assert_eq!(refs, ["credentials", "crypto", "now", "state"]);
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&graph).expect("cycle"),
        ["a", "b", "a"].map(String::from)
    );
}
