//! `cargo xtask arch`: checks the crate arrows of docs/ARCHITECTURE.md against `cargo metadata`.
//!
//! Product crates are named by their folder (so a package rename does not hide an edge). Their
//! normal and build dependencies on workspace crates must be among the allowed arrows; any other
//! workspace member (xtask, bench, test support, bindgen) is a tool, which a product crate must
//! never depend on outside dev-dependencies. Dev-dependencies are reported, not refused.
//!
//! The same command checks the size rule: no file under `src/` of a product crate has more than
//! [`MAX_LINES`] lines before its `#[cfg(test)]` module, and that the server's map in
//! docs/ARCHITECTURE.md names every module of its layers ([`SERVER_LAYERS`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The allowed arrows: product crate folder → the product crate folders it may depend on.
pub const ARROWS: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("core", &["protocol"]),
    ("push", &["protocol"]),
    ("server", &["protocol", "push"]),
    ("rp-client", &["protocol"]),
    ("bindings", &["core"]),
    ("cli", &["core", "server", "protocol", "rp-client"]),
    ("integrations/radius", &["rp-client"]),
    ("integrations/pam", &["rp-client"]),
];

/// The server's layer folders; docs/ARCHITECTURE.md's `### server` section names each of
/// their modules (a file or folder directly inside) as `name`.
pub const SERVER_LAYERS: &[&str] = &["http", "domain", "store", "service"];

/// Most lines a product crate's source file may have before its `#[cfg(test)]` module.
pub const MAX_LINES: usize = 700;

/// One dependency edge between workspace crates, by folder name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    from: String,
    to: String,
    kind: String,
}

impl std::fmt::Display for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {} ({})", self.from, self.to, self.kind)
    }
}

/// Runs the check on this workspace, printing the dev-dependency edges.
pub fn command(root: &Path) -> Result<(), String> {
    let output = Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let edges = workspace_edges(&metadata, root)?;
    let oversized = oversized_files(root)?;
    let undocumented = undocumented_server_modules(root)?;
    let (refused, dev) = check(&edges);
    for edge in &dev {
        eprintln!("arch: dev-dependency (tests only): {edge}");
    }
    let mut problems: Vec<String> = refused
        .iter()
        .map(|(e, why)| format!("dependency edge not allowed by docs/ARCHITECTURE.md: {e}: {why}"))
        .collect();
    problems.extend(oversized.iter().map(|(file, lines)| {
        format!("{file} has {lines} lines before #[cfg(test)] (at most {MAX_LINES}): split it")
    }));
    problems.extend(undocumented.iter().map(|module| {
        format!(
            "server/src/{module} is not in docs/ARCHITECTURE.md's server map: add its line \
             under `### server`"
        )
    }));
    if problems.is_empty() {
        eprintln!(
            "arch: {} workspace edges, the {MAX_LINES}-line rule and the server map checked: ok",
            edges.len()
        );
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

/// The modules of the server's layers (`domain/pairing`, `store/sessions`) whose name the
/// `### server` section of docs/ARCHITECTURE.md does not mention as `name`.
pub fn undocumented_server_modules(root: &Path) -> Result<Vec<String>, String> {
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md"))
        .map_err(|e| format!("cannot read docs/ARCHITECTURE.md: {e}"))?;
    let section = server_section(&doc).ok_or("docs/ARCHITECTURE.md has no `### server` section")?;
    let mut modules = Vec::new();
    for layer in SERVER_LAYERS {
        let dir = root.join("server/src").join(layer);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let module = name.trim_end_matches(".rs");
            if module == "mod" || module == "tests" {
                continue;
            }
            modules.push(format!("{layer}/{module}"));
        }
    }
    modules.sort();
    Ok(undocumented(section, &modules))
}

/// The `### server` section of the architecture document, up to the next heading.
fn server_section(doc: &str) -> Option<&str> {
    let start = doc.find("\n### server\n")?;
    let rest = &doc[start + 1..];
    let end = rest[4..].find("\n#").map_or(rest.len(), |e| e + 5);
    Some(&rest[..end])
}

/// The `layer/module`s whose module name is not written as `` `module` `` (or
/// `` `module/` ``) in `section`.
fn undocumented(section: &str, modules: &[String]) -> Vec<String> {
    modules
        .iter()
        .filter(|m| {
            let name = m.rsplit('/').next().unwrap_or(m);
            !section.contains(&format!("`{name}`")) && !section.contains(&format!("`{name}/`"))
        })
        .cloned()
        .collect()
}

/// Product-crate source files longer than [`MAX_LINES`] before their test module.
pub fn oversized_files(root: &Path) -> Result<Vec<(String, usize)>, String> {
    let mut files = Vec::new();
    for (krate, _) in ARROWS {
        collect_rust_files(&root.join(krate).join("src"), &mut files)?;
    }
    files.sort();
    let mut oversized = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let lines = lines_before_tests(&text);
        if lines > MAX_LINES {
            let name = file.strip_prefix(root).unwrap_or(&file);
            oversized.push((name.display().to_string(), lines));
        }
    }
    Ok(oversized)
}

fn collect_rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Lines before the first top-level `#[cfg(test)]` (all lines if there is none).
pub fn lines_before_tests(text: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with("#[cfg(test)]"))
        .unwrap_or_else(|| text.lines().count())
}

/// The edges between workspace members, named by each member's folder relative to `root`.
pub fn workspace_edges(metadata: &Value, root: &Path) -> Result<Vec<Edge>, String> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    let mut folder_of: BTreeMap<String, String> = BTreeMap::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let manifest = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().unwrap_or(manifest);
        let folder = dir
            .strip_prefix(root)
            .unwrap_or(dir)
            .to_string_lossy()
            .into_owned();
        folder_of.insert(name.to_owned(), folder);
    }
    let mut edges = Vec::new();
    for package in packages {
        let from = &folder_of[package["name"].as_str().unwrap_or_default()];
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let Some(to) = dep["name"].as_str().and_then(|n| folder_of.get(n)) else {
                continue; // not a workspace member
            };
            let kind = dep["kind"].as_str().unwrap_or("normal").to_owned();
            edges.push(Edge {
                from: from.clone(),
                to: to.clone(),
                kind,
            });
        }
    }
    edges.sort();
    edges.dedup();
    Ok(edges)
}

/// Splits edges into refused ones (with the reason) and dev-dependency ones.
pub fn check(edges: &[Edge]) -> (Vec<(Edge, String)>, Vec<Edge>) {
    let allowed = |from: &str| ARROWS.iter().find(|(f, _)| *f == from).map(|(_, to)| *to);
    let mut refused = Vec::new();
    let mut dev = Vec::new();
    for edge in edges {
        if edge.kind == "dev" {
            dev.push(edge.clone());
            continue;
        }
        let Some(targets) = allowed(&edge.from) else {
            continue; // a tool crate may use anything
        };
        if targets.contains(&edge.to.as_str()) {
            continue;
        }
        let why = if allowed(&edge.to).is_some() {
            format!("{} may depend only on {:?}", edge.from, targets)
        } else {
            format!(
                "{} is a tool crate; product crates use tools only as dev-dependencies",
                edge.to
            )
        };
        refused.push((edge.clone(), why));
    }
    (refused, dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(deps: &[(&str, &str, Option<&str>)]) -> Value {
        let crates = [
            "protocol", "core", "push", "server", "bindings", "cli", "bench",
        ];
        let packages: Vec<Value> = crates
            .iter()
            .map(|c| {
                let dependencies: Vec<Value> = deps
                    .iter()
                    .filter(|(from, _, _)| from == c)
                    .map(|(_, to, kind)| {
                        serde_json::json!({"name": format!("pkg-{to}"), "kind": kind})
                    })
                    .chain([serde_json::json!({"name": "serde", "kind": null})])
                    .collect();
                serde_json::json!({
                    "name": format!("pkg-{c}"),
                    "manifest_path": format!("/ws/{c}/Cargo.toml"),
                    "dependencies": dependencies,
                })
            })
            .collect();
        serde_json::json!({ "packages": packages })
    }

    fn refused(deps: &[(&str, &str, Option<&str>)]) -> Vec<String> {
        let edges = workspace_edges(&metadata(deps), Path::new("/ws")).expect("edges");
        check(&edges).0.iter().map(|(e, _)| e.to_string()).collect()
    }

    #[test]
    fn the_documented_arrows_pass() {
        let ok = [
            ("core", "protocol", None),
            ("push", "protocol", None),
            ("server", "protocol", None),
            ("server", "push", None),
            ("bindings", "core", None),
            ("cli", "core", None),
            ("cli", "server", None),
            ("cli", "protocol", Some("build")),
            ("bench", "server", None),
            ("protocol", "bench", Some("dev")),
        ];
        assert_eq!(refused(&ok), Vec::<String>::new());
    }

    #[test]
    fn a_server_module_missing_from_the_map_is_named() {
        let doc = "# A\n### server\n- `http/` — `rp`, `device`.\n- `sessions/` — x\n### cli\n- `pairing`\n";
        let section = server_section(doc).expect("section");
        assert!(!section.contains("### cli"), "{section}");
        let modules = [
            "http/rp",
            "http/device",
            "domain/sessions",
            "domain/pairing",
        ]
        .map(String::from);
        assert_eq!(undocumented(section, &modules), ["domain/pairing"]);
    }

    #[test]
    fn lines_are_counted_up_to_the_test_module() {
        assert_eq!(lines_before_tests("a\nb\n#[cfg(test)]\nmod tests {}\n"), 2);
        assert_eq!(lines_before_tests("a\n    #[cfg(test)]\nb\n"), 3);
        assert_eq!(lines_before_tests(""), 0);
    }

    #[test]
    fn an_offending_edge_is_named() {
        assert_eq!(
            refused(&[("bindings", "protocol", None)]),
            ["bindings → protocol (normal)"]
        );
        assert_eq!(
            refused(&[("protocol", "core", Some("build"))]),
            ["protocol → core (build)"]
        );
        assert_eq!(
            refused(&[("core", "bench", None)]),
            ["core → bench (normal)"]
        );
        assert_eq!(
            refused(&[("server", "core", None)]),
            ["server → core (normal)"]
        );
    }
}
