//! Every setting docs/SERVICE.md documents can be set from the file and from its variable, and
//! the documented variables are exactly the ones the service reads (a renamed or forgotten
//! variable would break an operator's deployment without a word).

use std::collections::BTreeSet;
use std::path::Path;

use tapprove_server::{SealKey, ServiceConfig};

/// One row of the settings table: the file key, the variable, the example in TOML syntax.
struct Row {
    key: String,
    var: String,
    example: toml::Value,
}

fn service_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/SERVICE.md");
    std::fs::read_to_string(path).expect("docs/SERVICE.md")
}

/// The text of the `## Settings` section.
fn settings_section(doc: &str) -> &str {
    let start = doc
        .find("\n## Settings\n")
        .expect("a `## Settings` section");
    let rest = &doc[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

fn rows() -> Vec<Row> {
    let doc = service_md();
    let mut rows = Vec::new();
    for line in settings_section(&doc).lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `key` | `VAR` | default | `example` |
        let [_, key, var, _, example, _] = cells.as_slice() else {
            continue;
        };
        let unquote = |c: &str| c.strip_prefix('`')?.strip_suffix('`').map(str::to_owned);
        let (Some(key), Some(var), Some(example)) = (unquote(key), unquote(var), unquote(example))
        else {
            continue;
        };
        let example = toml::from_str::<toml::Table>(&format!("v = {example}"))
            .unwrap_or_else(|e| panic!("the example of {key} is not a TOML value: {e}"))
            .remove("v")
            .expect("v");
        rows.push(Row { key, var, example });
    }
    assert!(rows.len() > 30, "the settings table was not found whole");
    rows
}

/// The rows to set with `row`: itself, and for a push provider every key of its section (a
/// provider is set up whole or refused).
fn with_section<'a>(row: &'a Row, all: &'a [Row]) -> Vec<&'a Row> {
    let section = row.key.rsplit_once('.').map_or("", |(s, _)| s);
    if section == "push.apns" || section == "push.fcm" || section == "push.webpush" {
        all.iter()
            .filter(|r| r.key.rsplit_once('.').map(|(s, _)| s) == Some(section))
            .collect()
    } else {
        vec![row]
    }
}

/// A TOML document setting these rows.
fn toml_of(rows: &[&Row]) -> String {
    let mut root = toml::Table::new();
    for row in rows {
        let mut path: Vec<&str> = row.key.split('.').collect();
        let leaf = path.pop().expect("leaf");
        let mut table = &mut root;
        for part in path {
            table = table
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("table");
        }
        table.insert(leaf.to_owned(), row.example.clone());
    }
    toml::to_string(&root).expect("toml")
}

/// The example as a variable's text: a list comma-separated, a string as it is.
fn env_text(example: &toml::Value) -> String {
    match example {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(env_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Whether `config` holds the row's example.
fn took(config: &ServiceConfig, row: &Row) -> bool {
    if row.key == "seal_key" {
        // Never serialised: compared as the key itself.
        let want = SealKey::from_base64(row.example.as_str().expect("text")).expect("key");
        return config.seal_key.as_ref() == Some(&want);
    }
    let effective = serde_json::to_value(config).expect("json");
    let pointer = format!("/{}", row.key.replace('.', "/"));
    let want = serde_json::to_value(&row.example).expect("json");
    effective.pointer(&pointer) == Some(&want)
}

#[test]
fn every_documented_setting_is_taken_from_the_file_and_from_the_environment() {
    let rows = rows();
    let dir = tempfile::tempdir().expect("tempdir");
    for row in &rows {
        let set = with_section(row, &rows);
        assert!(
            !took(&ServiceConfig::default(), row),
            "the example of {} is its default: it proves nothing",
            row.key
        );

        let file = dir.path().join("tapprove.toml");
        std::fs::write(&file, toml_of(&set)).expect("write");
        let from_file = ServiceConfig::load_with(Some(&file), |_| None)
            .unwrap_or_else(|e| panic!("{} from the file: {e}", row.key));
        assert!(
            took(&from_file, row),
            "{} from the file was not taken",
            row.key
        );

        let vars: Vec<(String, String)> = set
            .iter()
            .map(|r| (r.var.clone(), env_text(&r.example)))
            .collect();
        let get = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let from_env = ServiceConfig::load_with(None, get)
            .unwrap_or_else(|e| panic!("{} from {}: {e}", row.key, row.var));
        assert!(
            took(&from_env, row),
            "{} from {} was not taken",
            row.key,
            row.var
        );
    }
}

#[test]
fn the_documented_variables_are_exactly_the_ones_read() {
    let documented: BTreeSet<String> = rows().into_iter().map(|r| r.var).collect();
    let read: BTreeSet<String> = ServiceConfig::env_vars()
        .map(|v| v.var.to_owned())
        .collect();
    assert_eq!(
        documented, read,
        "docs/SERVICE.md's settings table and the code differ"
    );
    for row in rows() {
        let var = ServiceConfig::env_vars()
            .find(|v| v.var == row.var)
            .expect("read");
        assert_eq!(var.key, row.key, "{} sets another key", row.var);
    }
}

#[test]
fn the_documented_file_loads_and_a_wrong_value_names_its_variable() {
    let doc = service_md();
    let section = settings_section(&doc);
    let start = section.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let end = start + section[start..].find("```").expect("its end");
    let config = ServiceConfig::from_toml_str(&section[start..end])
        .unwrap_or_else(|e| panic!("the documented file does not load: {e}"));
    assert!(config.push.apns.is_some() && config.push.fcm.is_some());

    let err = ServiceConfig::load_with(None, |n| {
        (n == "TAPPROVE_LIMITS_SESSIONS_PER_MINUTE").then(|| "many".to_owned())
    })
    .expect_err("not a number");
    assert!(
        err.to_string()
            .contains("TAPPROVE_LIMITS_SESSIONS_PER_MINUTE"),
        "{err}"
    );
    let err = ServiceConfig::load_with(None, |n| {
        (n == "TAPPROVE_LIMITS_SESSIONS_PER_MINUTE").then(|| "-1".to_owned())
    })
    .expect_err("negative");
    assert!(
        err.to_string()
            .contains("TAPPROVE_LIMITS_SESSIONS_PER_MINUTE"),
        "{err}"
    );
    // A secret's variable is named, its value never repeated.
    let err = ServiceConfig::load_with(None, |n| {
        (n == "TAPPROVE_SEAL_KEY").then(|| "c2hvcnQ=".to_owned())
    })
    .expect_err("short key");
    assert!(err.to_string().contains("TAPPROVE_SEAL_KEY"), "{err}");
    assert!(!err.to_string().contains("c2hvcnQ"), "{err}");
    let err = ServiceConfig::from_toml_str("[limits]\nsessions_per_minute = \"many\"\n")
        .expect_err("not a number");
    assert!(
        err.to_string().contains("limits.sessions_per_minute"),
        "{err}"
    );
    let err = ServiceConfig::load_with(Some(Path::new("/nonexistent/tapprove.toml")), |_| None)
        .expect_err("missing file");
    assert!(err.to_string().contains("cannot read config file"), "{err}");
}
