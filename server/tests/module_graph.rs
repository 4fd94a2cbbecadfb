//! The server's layers, checked from its source. `server/src` is `http/` (the HTTP surface),
//! `domain/` (the rules), `store/` (SQL) and `service/` (process wiring), plus a few
//! crate-root modules (`error`, `crypto`, `testhook`). A *unit* is a layer's child module
//! (`domain::sessions`, `store::accounts`), a layer's own `mod.rs` (`store`) or a root module.
//! Every `crate::…` / `$crate::…` / `super::…` path is an edge from the referring unit to the
//! unit it names, and:
//! - the graph of units is acyclic (a layer's `mod.rs` declaring and re-exporting its children
//!   is not an edge: the children are what it is made of);
//! - the layers point one way: `store` never names `domain` or `http`, `domain` never names
//!   `http`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["http", "domain", "store", "service"];

/// Layer → the layers it must never name.
const FORBIDDEN: [(&str, &[&str]); 2] = [("store", &["domain", "http"]), ("domain", &["http"])];

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

/// Code without `//` comments (doc comments name modules in prose) and without its
/// `#[cfg(test)]` module (whose `super::` is the file itself).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or(text);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths of a use tree starting at `s` (just after `crate::`): `a::b`, `a::{b, c::d}`,
/// `{a, b::{c}}`. `self`, `*` and `as` renames end a path.
fn tree(s: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i] as char).is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i < bytes.len() && bytes[i] == b'{' {
        i += 1;
        let mut paths = Vec::new();
        loop {
            skip_ws(&mut i);
            if i >= bytes.len() {
                return (paths, i);
            }
            if bytes[i] == b'}' {
                return (paths, i + 1);
            }
            if bytes[i] == b',' {
                i += 1;
                continue;
            }
            let (inner, used) = tree(&s[i..]);
            paths.extend(inner);
            i += used.max(1);
            // Skip an `as name` rename up to the next `,` or `}`.
            while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'}' {
                i += 1;
            }
        }
    }
    let start = i;
    while i < bytes.len() && ((bytes[i] as char).is_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    let ident = &s[start..i];
    if ident.is_empty() || ident == "self" {
        return (vec![Vec::new()], i);
    }
    if s[i..].starts_with("::") {
        let (rest, used) = tree(&s[i + 2..]);
        let paths = rest
            .into_iter()
            .map(|mut p| {
                p.insert(0, ident.to_owned());
                p
            })
            .collect();
        return (paths, i + 2 + used);
    }
    (vec![vec![ident.to_owned()]], i)
}

/// Every absolute module path named in `code`, for a file whose own module path is `own`.
fn references(code: &str, own: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `some_crate::`, `$crate` is ours and kept
        }
        found.extend(tree(&code[at + "crate::".len()..]).0);
    }
    for (at, _) in code.match_indices("super::") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // counted with the first `super::` of a `super::super::`
        }
        let mut rest = &code[at..];
        let mut base = own.to_vec();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        for p in tree(rest).0 {
            if p.is_empty() {
                continue; // `use super::*` is an inline module's (`mod seconds`) own parent
            }
            let mut full = base.clone();
            full.extend(p);
            found.push(full);
        }
    }
    found
}

/// The unit a module path belongs to, if it names one.
fn unit(path: &[String], units: &BTreeSet<String>) -> Option<String> {
    let first = path.first()?;
    if let Some(second) = path.get(1) {
        let child = format!("{first}::{second}");
        if units.contains(&child) {
            return Some(child);
        }
    }
    units.contains(first).then(|| first.clone())
}

fn layer(unit: &str) -> &str {
    unit.split("::").next().unwrap_or(unit)
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

/// The module path of a source file: `store/sessions/sqlite.rs` → `store::sessions::sqlite`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .map(|s| s.trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn graph_of(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let paths: Vec<(Vec<String>, PathBuf)> = files
        .into_iter()
        .map(|f| (module_path(f.strip_prefix(src).expect("under src")), f))
        .collect();
    let mut units = BTreeSet::new();
    for (path, _) in &paths {
        match path.as_slice() {
            [] => {}
            [one] => {
                units.insert(one.clone());
            }
            [l, c, ..] if LAYERS.contains(&l.as_str()) => {
                units.insert(l.clone());
                units.insert(format!("{l}::{c}"));
            }
            [one, ..] => {
                units.insert(one.clone());
            }
        }
    }
    for l in LAYERS {
        assert!(units.contains(l), "no `{l}/` layer under server/src");
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, file) in &paths {
        let Some(from) = unit(path, &units) else {
            continue; // lib.rs: the crate's table of contents
        };
        let text = std::fs::read_to_string(file).expect("read");
        let edges = graph.entry(from.clone()).or_default();
        for to in references(&code(&text), path) {
            let Some(to) = unit(&to, &units) else {
                continue; // an item at the crate root (`crate::now`)
            };
            let facade_to_child = !from.contains("::") && layer(&to) == from;
            if to != from && !facade_to_child {
                edges.insert(to);
            }
        }
    }
    graph
}

#[test]
fn server_units_have_no_import_cycle_and_layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of(&src);
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 60, "suspiciously few edges found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between server modules: {}", cycle.join(" → "));
    }
    let mut wrong = Vec::new();
    for (from, tos) in &graph {
        for (l, never) in FORBIDDEN {
            if layer(from) != l {
                continue;
            }
            for to in tos {
                if never.contains(&layer(to)) {
                    wrong.push(format!("{from} → {to}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "edges against the layers: {wrong:?}");
}

#[test]
fn the_reference_parser_reads_groups_paths_and_super() {
    let own = ["store", "sessions", "sqlite"].map(String::from);
    let refs = references(
        "use crate::{credentials, crypto::{self, SealKey}, domain::{bus, audit::Origin}};\n\
         let x = crate::now();\nuse crate::state::AppState; some_crate::x; $crate::y::z;\n\
         use super::{Budget, budget_blocker}; use super::super::Stored;",
        &own,
    );
    let refs: Vec<String> = refs.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        refs,
        [
            "credentials",
            "crypto",
            "crypto::SealKey",
            "domain::bus",
            "domain::audit::Origin",
            "now",
            "state::AppState",
            "y::z",
            "store::sessions::Budget",
            "store::sessions::budget_blocker",
            "store::Stored",
        ]
    );
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&graph).expect("cycle"),
        ["a", "b", "a"].map(String::from)
    );
}
