//! VPN-style logins with the real programs: `radclient` (the NAS) → the `tapprove-radius`
//! binary → Debian's FreeRADIUS (the password) → the service's push → a software phone.
//! Needs `freeradius` and `freeradius-utils`: run by `cargo xtask test radius`, which installs
//! them; `cargo test` skips it (ignored).

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::freeradius::{self, Process, radclient_async};
use common::{Behaviour, PASSWORD, UPSTREAM_SECRET, World};

const NAS_SECRET: &str = "radclient-secret";

/// A `tapprove-radius` config file for the loopback NAS (and 127.0.0.2 is nobody's).
fn write_config(
    w: &World,
    name: &str,
    port: u16,
    mode: &str,
    timeout: u64,
    upstream: Option<u16>,
) -> std::path::PathBuf {
    std::fs::write(w.dir.path().join("nas.secret"), format!("{NAS_SECRET}\n")).unwrap();
    let mut text = format!(
        "listen = \"127.0.0.1:{port}\"\nservice_url = \"{}\"\napi_key_file = \"api-key\"\n\
         mode = \"{mode}\"\ntimeout_seconds = {timeout}\n\n[[clients]]\naddress = \"127.0.0.1/32\"\n\
         secret_file = \"nas.secret\"\n",
        w.base_url()
    );
    if let Some(up) = upstream {
        text.push_str(&format!(
            "\n[upstream]\naddress = \"127.0.0.1:{up}\"\nsecret = \"{UPSTREAM_SECRET}\"\n"
        ));
    }
    let path = w.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn request(user: &str, password: Option<&str>, extra: &str) -> String {
    let mut s = format!("User-Name = \"{user}\"\n");
    if let Some(p) = password {
        s.push_str(&format!("User-Password = \"{p}\"\n"));
    }
    s.push_str(extra);
    // Debian's radclient 3.2.1 adds a Message-Authenticator only when asked like this.
    s.push_str("Message-Authenticator = 0x00\n");
    s
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

struct Rig {
    w: World,
    _freeradius: Process,
    radius: Process,
    at: SocketAddr,
}

async fn rig(mode: &str, timeout: u64) -> Rig {
    let w = World::start().await;
    let up_port = freeradius::free_udp_port();
    let fr_dir = w.dir.path().join("freeradius");
    let fr = freeradius::start_freeradius(
        &fr_dir,
        up_port,
        UPSTREAM_SECRET,
        &[("alice", PASSWORD), ("bob", PASSWORD), ("carol", PASSWORD)],
    );
    let port = freeradius::free_udp_port();
    let config = write_config(
        &w,
        &format!("{mode}.toml"),
        port,
        mode,
        timeout,
        Some(up_port),
    );
    let radius =
        freeradius::start_tapprove_radius(&config, w.dir.path().join(format!("{mode}.log")));
    let at: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Rig {
        w,
        _freeradius: fr,
        radius,
        at,
    }
}

fn dump(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FreeRADIUS and radclient: cargo xtask test radius"]
async fn refusals_through_radclient_and_freeradius() {
    let r = rig("push", 4).await;
    let phone = r.w.phone("alice").await;
    phone.set(Behaviour::Approve, Duration::ZERO);

    // Wrong password at FreeRADIUS: Access-Reject, no push; Proxy-State comes back.
    let got = radclient_async(
        r.at,
        NAS_SECRET,
        request("alice", Some("wrong"), "Proxy-State = 0x61626364\n"),
        10,
        1,
    )
    .await;
    assert_eq!(got.received(), Some("Access-Reject"), "{got:?}");
    assert_eq!(
        got.attribute("Proxy-State").as_deref(),
        Some("0x61626364"),
        "{got:?}"
    );
    assert_eq!(r.w.sessions_created("alice").await, 0);
    assert!(phone.seen().is_empty());
    let fr_log = dump(&r.w.dir.path().join("freeradius/freeradius.log"));
    assert!(fr_log.contains("Passwords don't match"), "{fr_log}");

    // No Message-Authenticator, a wrong secret, an unknown client: no reply at all.
    let no_mac = format!("User-Name = \"alice\"\nUser-Password = \"{PASSWORD}\"\n");
    let got = radclient_async(r.at, NAS_SECRET, no_mac, 1, 1).await;
    assert_eq!(got.received(), None, "{got:?}");
    let got = radclient_async(
        r.at,
        "not-the-secret",
        request("alice", Some(PASSWORD), ""),
        1,
        1,
    )
    .await;
    assert_eq!(got.received(), None, "{got:?}");
    let got = radclient_async(
        r.at,
        NAS_SECRET,
        request(
            "alice",
            Some(PASSWORD),
            "Packet-Src-IP-Address = 127.0.0.2\n",
        ),
        1,
        1,
    )
    .await;
    assert_eq!(got.received(), None, "{got:?}");
    let log = r.radius.log_text();
    for reason in [
        "reason=\"no_message_authenticator\" dropped_total=1",
        "reason=\"bad_message_authenticator\" dropped_total=1",
        "reason=\"unknown_client\" dropped_total=1",
    ] {
        assert_eq!(count(&log, reason), 1, "{reason}:\n{log}");
    }
    assert_eq!(r.w.sessions_created("alice").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FreeRADIUS and radclient: cargo xtask test radius"]
async fn push_logins_through_radclient_and_freeradius() {
    let r = rig("push", 4).await;
    r.w.allow_approve_only().await;
    let alice = r.w.phone("alice").await;
    let login = || request("alice", Some(PASSWORD), "NAS-Identifier = \"vpn-gw-1\"\n");

    alice.set(Behaviour::Approve, Duration::from_millis(300));
    let got = radclient_async(r.at, NAS_SECRET, login(), 10, 1).await;
    assert_eq!(got.received(), Some("Access-Accept"), "{got:?}");
    assert_eq!(alice.nth(1).await.title, "Sign in to vpn-gw-1");

    alice.set(Behaviour::Deny, Duration::from_millis(300));
    let got = radclient_async(r.at, NAS_SECRET, login(), 10, 1).await;
    assert_eq!(got.received(), Some("Access-Reject"), "{got:?}");

    alice.set(Behaviour::Ignore, Duration::ZERO);
    let got = radclient_async(r.at, NAS_SECRET, login(), 10, 1).await;
    assert_eq!(got.received(), Some("Access-Reject"), "{got:?}");
    assert!(got.took >= Duration::from_secs(4), "{got:?}");
    assert_eq!(r.w.sessions_created("alice").await, 3);

    // radclient retransmits every second while the phone takes 3: still one push.
    alice.set(Behaviour::Approve, Duration::from_secs(3));
    let got = radclient_async(r.at, NAS_SECRET, login(), 1, 6).await;
    assert_eq!(got.received(), Some("Access-Accept"), "{got:?}");
    assert_eq!(r.w.sessions_created("alice").await, 4);
    assert!(
        r.radius.log_text().contains("retransmission"),
        "{}",
        r.radius.log_text()
    );

    // A second radclient (new source port and Identifier) for the same login joins it.
    let bob = r.w.phone("bob").await;
    bob.set(Behaviour::Approve, Duration::from_secs(3));
    let bob_login = || request("bob", Some(PASSWORD), "");
    let first = tokio::spawn(radclient_async(r.at, NAS_SECRET, bob_login(), 10, 1));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = radclient_async(r.at, NAS_SECRET, bob_login(), 10, 1).await;
    let first = first.await.unwrap();
    assert_eq!(first.received(), Some("Access-Accept"), "{first:?}");
    assert_eq!(second.received(), Some("Access-Accept"), "{second:?}");
    assert_eq!(r.w.sessions_created("bob").await, 1);
    assert_eq!(bob.seen().len(), 1);
}

/// The first step of a code-mode login (the right password): the Access-Challenge asking for
/// the code, and its State.
async fn challenged(r: &Rig) -> String {
    let got = radclient_async(
        r.at,
        NAS_SECRET,
        request("alice", Some(PASSWORD), ""),
        10,
        1,
    )
    .await;
    assert_eq!(got.received(), Some("Access-Challenge"), "{got:?}");
    assert_eq!(
        got.attribute("Reply-Message").as_deref(),
        Some(tapprove_radius::CODE_PROMPT),
        "{got:?}"
    );
    got.attribute("State").expect("State")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FreeRADIUS and radclient: cargo xtask test radius"]
async fn code_logins_through_radclient_and_freeradius() {
    let r = rig("code", 30).await;
    let alice = r.w.phone("alice").await;
    alice.set(Behaviour::Ignore, Duration::ZERO);
    for (n, right) in [(1, true), (2, false)] {
        let state = challenged(&r).await;
        let code = alice.nth(n).await.presence.code.expect("code shown");
        let typed = if right {
            code
        } else {
            format!(
                "{:0width$}",
                (code.parse::<u64>().unwrap() + 1) % 10u64.pow(code.len() as u32),
                width = code.len()
            )
        };
        let answer = request("alice", Some(&typed), &format!("State = {state}\n"));
        let got = radclient_async(r.at, NAS_SECRET, answer, 10, 1).await;
        let expected = if right {
            "Access-Accept"
        } else {
            "Access-Reject"
        };
        assert_eq!(got.received(), Some(expected), "{got:?}");
    }
    assert_eq!(r.w.sessions_created("alice").await, 2);
}

/// The whole VPN path with the terminal authenticator as the phone: radclient →
/// tapprove-radius → FreeRADIUS (the password) → push → `tapprove device listen`, in both modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FreeRADIUS, radclient and the tapprove binary: cargo xtask test radius"]
async fn the_terminal_authenticator_answers_vpn_logins_in_both_modes() {
    use tapprove_test_support::fixture::PAIRING_CODE;
    use tapprove_test_support::terminal::Terminal;

    // Push mode: the VPN client shows nothing, so the push asks only for approval.
    let r = rig("push", 20).await;
    r.w.allow_approve_only().await;
    let terminal = Terminal::new(r.w.dir.path().join("terminal"));
    terminal.pair(&r.w.base_url(), &r.w.sdk_key, "alice", PAIRING_CODE);
    let mut listen = terminal.listen().await;
    let login = || request("alice", Some(PASSWORD), "NAS-Identifier = \"vpn-gw-1\"\n");
    let vpn = tokio::spawn(radclient_async(r.at, NAS_SECRET, login(), 20, 1));
    listen.wait_for("Sign in to vpn-gw-1").await;
    listen.wait_for("[a] approve").await;
    listen.type_line("a");
    listen.wait_for("approved").await;
    let got = vpn.await.unwrap();
    assert_eq!(got.received(), Some("Access-Accept"), "{got:?}");
    let vpn = tokio::spawn(radclient_async(r.at, NAS_SECRET, login(), 20, 1));
    listen.wait_for("[a] approve").await;
    listen.type_line("d");
    let got = vpn.await.unwrap();
    assert_eq!(got.received(), Some("Access-Reject"), "{got:?}");
    drop(listen);

    // Code mode: the VPN client's second prompt takes the code the terminal shows.
    let r = rig("code", 30).await;
    let terminal = Terminal::new(r.w.dir.path().join("terminal"));
    terminal.pair(&r.w.base_url(), &r.w.sdk_key, "alice", PAIRING_CODE);
    let mut listen = terminal.listen().await;
    let state = challenged(&r).await;
    let code = listen.show_code().await;
    let answer = request("alice", Some(&code), &format!("State = {state}\n"));
    let got = radclient_async(r.at, NAS_SECRET, answer, 10, 1).await;
    assert_eq!(got.received(), Some("Access-Accept"), "{got:?}");
    assert_eq!(r.w.sessions_created("alice").await, 1);
}
