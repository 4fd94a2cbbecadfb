//! `cargo xtask fuzz`: coverage-guided fuzzing of every parser of untrusted bytes.
//!
//! - `cargo xtask fuzz --list` names the targets.
//! - `cargo xtask fuzz TARGET [--time 60s] [--runs N]` runs one until the time or the number
//!   of executions is reached, and prints its figures (executions, time, crashes).
//! - `cargo xtask fuzz all --time 5s` runs every target in turn (what `cargo xtask test` does).
//! - `cargo xtask fuzz TARGET --repro FILE` runs one input again (a crash libFuzzer saved).
//!
//! The targets live in `fuzz/`, a workspace of its own built with libFuzzer (libfuzzer-sys)
//! and LLVM's coverage instrumentation passed as stable `-C` flags; sanitizers need a nightly
//! toolchain and are off, so a crash is a panic, an abort, a timeout or running out of memory.
//! They build into `<target dir>/fuzz` so the instrumented build never invalidates the normal
//! one. Corpora grow in `fuzz/corpus/<target>/` (gitignored), seeded on every run from
//! `tests/vectors`; crashes are saved to `fuzz/artifacts/<target>/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::root;

/// Every target: name and what it fuzzes (docs/SECURITY.md has the campaign figures).
pub const TARGETS: &[(&str, &str)] = &[
    (
        "challenge_verify",
        "Challenge::verify: the signed challenge a phone receives",
    ),
    (
        "answer_verify",
        "Answer::verify: the signed answer the service receives",
    ),
    (
        "request_proof_verify",
        "RequestProof::verify: the device API's Authorization header",
    ),
    (
        "push_apns",
        "Authenticator::handle_push on APNs userInfo payloads",
    ),
    ("push_fcm", "Authenticator::handle_push on FCM data maps"),
    (
        "enrollment_uri",
        "EnrollmentUri::parse: the pairing link in a QR code",
    ),
    (
        "service_url",
        "the core's URL parser and form queries, against the url crate",
    ),
    ("sse", "the core's Server-Sent Events reader, fed in chunks"),
    (
        "http_response",
        "the core's HTTP/1.1 response reader: head, chunked, trailers",
    ),
    (
        "api_bodies",
        "every JSON body of the device and relying-party APIs",
    ),
    (
        "webhook_verify",
        "the Standard Webhooks verifier and the HTTP Basic check",
    ),
    (
        "key_update_verify",
        "KeyUpdate::verify: the service key rollover message",
    ),
    (
        "sealed_open",
        "sealed::open: the sealed push payload, and seal/open round trips",
    ),
    (
        "webpush_registration",
        "a Web Push subscription at registration: endpoint, keys, address rule",
    ),
    (
        "radius_packet",
        "tapprove-radius: RADIUS packets, Message-Authenticator, User-Password",
    ),
];

/// libFuzzer's coverage instrumentation, as cargo-fuzz passes it with `--sanitizer none`.
const COVERAGE_FLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
];

/// `cargo xtask fuzz …`.
pub fn command(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut seconds = 60;
    let mut runs = None;
    let mut repro = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--list" => {
                for (name, what) in TARGETS {
                    println!("{name:<22} {what}");
                }
                return Ok(());
            }
            "--time" => seconds = parse_duration(&value("--time")?)?,
            "--runs" => {
                let v = value("--runs")?;
                runs = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("--runs takes a number, not {v:?}"))?,
                );
            }
            "--repro" => repro = Some(PathBuf::from(value("--repro")?)),
            name if !name.starts_with('-') && target.is_none() => target = Some(name.to_owned()),
            other => return Err(format!("unknown fuzz option {other:?}; {USAGE}")),
        }
    }
    let target = target.ok_or_else(|| USAGE.to_owned())?;
    let names: Vec<&str> = if target == "all" {
        TARGETS.iter().map(|(n, _)| *n).collect()
    } else if TARGETS.iter().any(|(n, _)| *n == target) {
        vec![target.as_str()]
    } else {
        return Err(format!(
            "no fuzz target {target:?}; `cargo xtask fuzz --list` names them"
        ));
    };
    let bins = build()?;
    if let Some(file) = repro {
        return reproduce(&bins, names[0], &file);
    }
    let mut failed = Vec::new();
    for name in names {
        let figures = run_target(&bins, name, seconds, runs)?;
        println!("{figures}");
        if figures.crashed {
            failed.push(name);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "crash found in {}: see fuzz/artifacts/<target>/ and rerun it with \
             `cargo xtask fuzz TARGET --repro FILE`",
            failed.join(", ")
        ))
    }
}

const USAGE: &str =
    "usage: cargo xtask fuzz --list | TARGET|all [--time 60s] [--runs N] | TARGET --repro FILE";

/// The brief run of every target in `cargo xtask test`.
pub fn smoke() -> Result<(), String> {
    command(&["all".into(), "--time".into(), "5s".into()])
}

/// `90`, `90s`, `10m`, `2h` → seconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("bad duration {text:?}; use e.g. 60s, 10m or 2h"))?;
    match unit {
        "s" => Ok(n),
        "m" => Ok(n * 60),
        "h" => Ok(n * 3600),
        _ => Err(format!("bad duration {text:?}; use e.g. 60s, 10m or 2h")),
    }
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("could not run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}

/// Builds every target with coverage instrumentation; returns the directory of the binaries.
fn build() -> Result<PathBuf, String> {
    let triple = host_triple()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("fuzz");
    // `--target` keeps the instrumentation off build scripts and proc macros. The fuzz
    // workspace's Cargo.lock is committed; it is not built `--locked` so that a dependency
    // bump in the main workspace does not break fuzzing until someone refreshes it.
    let args = [
        "build",
        "--release",
        "--bins",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--target",
        &triple,
    ];
    eprintln!(
        "xtask: $ cargo {} (with coverage RUSTFLAGS)",
        args.join(" ")
    );
    let status = Command::new("cargo")
        .args(args)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", COVERAGE_FLAGS.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the fuzz targets failed ({status})"));
    }
    Ok(target_dir.join(triple).join("release"))
}

/// What one run measured.
struct Figures {
    name: String,
    executions: u64,
    seconds: f64,
    corpus: usize,
    crashed: bool,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz {}: {} executions in {:.0} s ({:.0}/s), corpus {} inputs, {}",
            self.name,
            self.executions,
            self.seconds,
            self.executions as f64 / self.seconds.max(0.001),
            self.corpus,
            if self.crashed {
                "CRASH (see fuzz/artifacts)"
            } else {
                "no crash"
            }
        )
    }
}

fn run_target(bins: &Path, name: &str, seconds: u64, runs: Option<u64>) -> Result<Figures, String> {
    let corpus = root().join("fuzz").join("corpus").join(name);
    let artifacts = root().join("fuzz").join("artifacts").join(name);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_seeds(name, &corpus)?;
    let mut cmd = Command::new(bins.join(name));
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg("-timeout=10")
        .arg("-rss_limit_mb=1024")
        .arg("-max_len=8192")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus);
    if let Some(n) = runs {
        cmd.arg(format!("-runs={n}"));
    }
    eprintln!("xtask: fuzzing {name} for up to {seconds} s");
    let start = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("could not start the {name} fuzz target: {e}"))?;
    let elapsed = start.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr);
    let executions = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|v| v.trim().parse().ok());
    let crashed = !out.status.success();
    if crashed || executions.is_none() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
    }
    let executions = match executions {
        Some(n) => n,
        None if crashed => 0,
        None => return Err(format!("the {name} fuzz target printed no statistics")),
    };
    let corpus_len = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
    Ok(Figures {
        name: name.to_owned(),
        executions,
        seconds: elapsed,
        corpus: corpus_len,
        crashed,
    })
}

fn reproduce(bins: &Path, name: &str, file: &Path) -> Result<(), String> {
    let status = Command::new(bins.join(name))
        .arg(file)
        .status()
        .map_err(|e| format!("could not start the {name} fuzz target: {e}"))?;
    if status.success() {
        eprintln!("xtask: {} no longer crashes {name}", file.display());
        Ok(())
    } else {
        Err(format!(
            "{} still crashes {name} ({status})",
            file.display()
        ))
    }
}

// ---------------------------------------------------------------- seeds

/// Writes the seed inputs of `target` into its corpus (same names each run, so re-seeding
/// does not grow it). Signed-token targets read a mode byte first (fuzz/src/lib.rs): 0 = the
/// token as on the wire, 1 = a payload the target signs.
fn write_seeds(target: &str, corpus: &Path) -> Result<(), String> {
    let vectors = vector_tokens()?;
    let challenges: Vec<&String> = vectors
        .iter()
        .filter(|(file, _)| file.starts_with("challenge"))
        .map(|(_, t)| t)
        .collect();
    let answers: Vec<&String> = vectors
        .iter()
        .filter(|(file, _)| file.starts_with("answer"))
        .map(|(_, t)| t)
        .collect();
    let signed = |tokens: &[&String]| -> Vec<Vec<u8>> {
        let mut seeds = Vec::new();
        for t in tokens {
            seeds.push([b"\x00", t.as_bytes()].concat());
            if let Some(payload) = t.split('.').nth(1).and_then(base64url_decode) {
                seeds.push([b"\x01".as_slice(), &payload].concat());
            }
        }
        seeds
    };
    let seeds: Vec<Vec<u8>> = match target {
        "challenge_verify" => signed(&challenges),
        "answer_verify" => signed(&answers),
        "request_proof_verify" => {
            let proof = br#"{"ver":1,"account_id":"acc_01JDEMO0000000000000000000","htm":"GET","htp":"/v1/device/pending","bh":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU","iat":1800000000,"jti":"jti-1"}"#;
            let mut seeds = vec![[b"\x01".as_slice(), proof].concat()];
            seeds.extend(
                answers
                    .iter()
                    .map(|t| format!("\x00Tapprove {t}").into_bytes()),
            );
            seeds
        }
        "push_apns" | "push_fcm" => {
            let mut seeds = signed(&challenges);
            for t in &challenges {
                let shaped = if target == "push_apns" {
                    format!(
                        r#"{{"aps":{{"alert":{{"title":"Log in?","body":"Someone is signing in."}},"category":"TAPPROVE_LOGIN","mutable-content":1}},"tapprove":"{t}"}}"#
                    )
                } else {
                    format!(r#"{{"tapprove":"{t}","title":"Log in?","body":"Someone is signing in."}}"#)
                };
                seeds.push([b"\x00", shaped.as_bytes()].concat());
            }
            seeds.push([b"\x00".as_slice(), br#"{"aps":{"alert":"not ours"}}"#].concat());
            seeds
        }
        "enrollment_uri" => vec![
            b"tapprove://pair?server=https%3A%2F%2Fauth.example.com&sdk_key=tap_sdk_AAAAAAAAAAAAAAAAAAAAAA&user=alice&code=7KQ2-M9XD".to_vec(),
            b"tapprove://pair?server=http%3A%2F%2F127.0.0.1%3A8080&sdk_key=tap_sdk_AAAAAAAAAAAAAAAAAAAAAA&user=al%C3%AFce%20b&code=7KQ2-M9XD".to_vec(),
        ],
        "service_url" => vec![
            b"https://auth.example.com".to_vec(),
            b"http://127.0.0.1:8080/v1/device/pair?wait=25".to_vec(),
            b"http://[::ffff:192.0.2.1]:80/a/%2e/b".to_vec(),
            b"server=https%3A%2F%2Fa.example&user=Al+ice%C3%A4&&code".to_vec(),
            b"name*-._~\nvalue with spaces+%".to_vec(),
        ],
        "sse" => {
            let t = challenges.first().map(|t| t.as_str()).unwrap_or("a.b.c");
            vec![
                format!("\x07: keep-alive\n\nevent: challenge\ndata: {t}\n\nevent: decided\r\ndata: {{\"session_id\":\"ses_1\",\"status\":\"accepted\"}}\r\n\r\n").into_bytes(),
                b"\x00data: one\rdata:two\r\r: c\nid: 1\nretry: 5\n\n".to_vec(),
            ]
        }
        "http_response" => vec![
            b"\x04\x02HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\n\r\nhello".to_vec(),
            b"\x03\x01HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n6\r\npedia \r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec(),
            b"\x10\x10HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            b"\x10\x10HTTP/1.0 200 OK\r\n\r\nuntil close".to_vec(),
            b"\x10\x10HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Type: application/json\r\nContent-Length: 61\r\n\r\n{\"error\":{\"code\":\"rate_limited\",\"message\":\"Wait 3 seconds.\"}}".to_vec(),
        ],
        "api_bodies" => {
            let key = "BMZzyYHS09Q4t3JQYgFDEuJzZ9n00ZSgKPZNagkSGFh9tFR4juol4sWIZblLRkNIeRAqHttVv2uOXf9Kj8qEnH8";
            let t = answers.first().map(|t| t.as_str()).unwrap_or("a.b.c");
            let bodies = [
                format!(r#"{{"user":"alice","pairing_code":"7KQ2-M9XD","public_key":"{key}","push":{{"platform":"apns","token":"ab12","environment":"sandbox"}},"device_name":"Alice's iPhone"}}"#),
                r#"{"platform":"fcm","token":"tok"}"#.into(),
                format!(r#"{{"answer":"{t}"}}"#),
                r#"{"user":"alice","notification":{"title":"Log in?","body":"Someone"},"context":{"ip":"203.0.113.7","app":"Demo"},"presence":"entry","ttl_seconds":120}"#.into(),
                format!(r#"{{"account_id":"acc_1","project_id":"prj_1","project_name":"Demo","user":"alice","service_key":"{key}","server_time":1800000000}}"#),
                format!(r#"{{"challenges":["{t}"]}}"#),
                r#"{"session_id":"ses_1","status":"rejected","reason":"wrong_number"}"#.into(),
                r#"{"session_id":"ses_1","status":"accepted"}"#.into(),
                r#"{"error":{"code":"rate_limited","message":"Wait."}}"#.into(),
                r#"{"id":"ses_1","status":"sent","presence_code":"42","expires_at":1800000120}"#.into(),
                r#"{"id":"ses_1","status":"canceled","reason":"superseded","presence_code":null,"expires_at":1800000120,"decided_at":1800000001}"#.into(),
            ];
            bodies
                .iter()
                .enumerate()
                .map(|(i, b)| [&[i as u8][..], b.as_bytes()].concat())
                .collect()
        }
        "webhook_verify" => {
            // The Standard Webhooks specification's example, and a fresh one at the vectors' time.
            vec![
                b"\x00msg_p5jXN8AQM9LWM0D4loKWxJek\n1614265330\nv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n{\"test\": 2432232314}".to_vec(),
                b"\x01msg_1\n1800000000\nBasic YWxpY2U6cHc=\n{\"user\":\"alice\",\"challenge\":\"7KQ2-M9XD\"}".to_vec(),
                b"\x00msg_1\n1800000010\nv1,AAAA v1,BBBB v2,CCCC\n{}".to_vec(),
            ]
        }
        "key_update_verify" => {
            let update = r#"{"ver":1,"new_key":"BMZzyYHS09Q4t3JQYgFDEuJzZ9n00ZSgKPZNagkSGFh9tFR4juol4sWIZblLRkNIeRAqHttVv2uOXf9Kj8qEnH8","old_key_valid_until":1800086400,"iat":1800000000}"#;
            let mut seeds = vec![[b"\x01".as_slice(), update.as_bytes()].concat()];
            seeds.extend(challenges.iter().map(|t| [b"\x00", t.as_bytes()].concat()));
            seeds
        }
        "sealed_open" => {
            // Mode 1: challenge tokens to seal and open; mode 0: a few malformed blobs.
            let mut seeds: Vec<Vec<u8>> =
                challenges.iter().map(|t| [b"\x01", t.as_bytes()].concat()).collect();
            seeds.extend([b"\x00".to_vec(), b"\x00AQ".to_vec(), b"\x00Ag".to_vec(), b"\x00!!".to_vec()]);
            seeds
        }
        "webpush_registration" => {
            let keys = r#""keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}"#;
            [
                "https://ntfy.sh/upAbCdEf123?up=1",
                "https://push.example.net:8443/wpush/v2/gAAAAABk",
                "https://127.0.0.1:8443/push/x",
                "https://[::ffff:10.0.0.1]/p",
                "http://ntfy.sh/x",
            ]
            .iter()
            .map(|e| format!(r#"{{"endpoint":"{e}","expirationTime":null,{keys}}}"#).into_bytes())
            .collect()
        }
        "radius_packet" => radius_seeds(),
        other => return Err(format!("no seeds for fuzz target {other:?}")),
    };
    for (i, seed) in seeds.iter().enumerate() {
        let path = corpus.join(format!("seed-{i:02}"));
        std::fs::write(&path, seed).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// RFC 2865 §7.1's Access-Request and Access-Accept, and an Access-Request with two
/// Proxy-States and a Message-Authenticator.
fn radius_seeds() -> Vec<Vec<u8>> {
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect()
    };
    vec![
        hex(
            "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003",
        ),
        hex("0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103"),
        hex(
            "01070034000102030405060708090a0b0c0d0e0f0107616c69636521047031210300501200000000000000000000000000000000",
        ),
    ]
}

/// Every `"token": "…"` of tests/vectors/*.json, with the file it came from.
fn vector_tokens() -> Result<Vec<(String, String)>, String> {
    let dir = root().join("tests").join("vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut tokens = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Tokens are base64url and dots: no escapes to undo.
        for part in text.split("\"token\": \"").skip(1) {
            if let Some(end) = part.find('"') {
                tokens.push((file.clone(), part[..end].to_owned()));
            }
        }
    }
    if tokens.is_empty() {
        return Err(format!("no tokens found in {}", dir.display()));
    }
    Ok(tokens)
}

/// base64url without padding (RFC 4648 §5); `None` if `text` is not that.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(60));
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn base64url() {
        assert_eq!(
            base64url_decode("eyJ2ZXIiOjF9").as_deref(),
            Some(&b"{\"ver\":1}"[..])
        );
        assert_eq!(base64url_decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert!(base64url_decode("a=").is_none());
    }

    #[test]
    fn every_target_has_seeds_from_the_vectors() {
        let dir = tempfile_dir();
        for (name, _) in TARGETS {
            let corpus = dir.join(name);
            std::fs::create_dir_all(&corpus).expect("dir");
            write_seeds(name, &corpus).expect("seeds");
            assert!(
                std::fs::read_dir(&corpus).expect("read").count() >= 2,
                "{name}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().join(format!("xtask-fuzz-seeds-{}", std::process::id()))
    }
}
