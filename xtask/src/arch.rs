//! `cargo xtask arch`: checks the crate arrows of docs/ARCHITECTURE.md against `cargo metadata`.
//!
//! Product crates are named by their folder (so a package rename does not hide an edge). Their
//! normal and build dependencies on workspace crates must be among the allowed arrows; any other
//! workspace member (xtask, bench, test support, bindgen) is a tool, which a product crate must
//! never depend on outside dev-dependencies. Dev-dependencies are reported, not refused.

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
    ("bindings", &["core"]),
    ("cli", &["core", "server", "protocol"]),
];

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
    let (refused, dev) = check(&edges);
    for edge in &dev {
        eprintln!("arch: dev-dependency (tests only): {edge}");
    }
    if refused.is_empty() {
        eprintln!(
            "arch: {} workspace edges checked against docs/ARCHITECTURE.md: ok",
            edges.len()
        );
        Ok(())
    } else {
        let list: Vec<String> = refused
            .iter()
            .map(|(e, why)| format!("{e}: {why}"))
            .collect();
        Err(format!(
            "dependency edges not allowed by docs/ARCHITECTURE.md:\n  {}",
            list.join("\n  ")
        ))
    }
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
