//! End to end, through the real binary: `tapprove demo` (service + Demo Bank website) driven
//! over HTTP like a browser without JavaScript, with `tapprove device` as the phone. (The
//! headless-Chromium version lives in tests/browser/.)

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

struct Demo {
    child: Child,
    site: String,
    service: String,
}

impl Demo {
    fn start(data: &std::path::Path, port_service: u16, port_site: u16) -> Self {
        Self::start_with(data, port_service, port_site, &[])
    }

    fn start_with(
        data: &std::path::Path,
        port_service: u16,
        port_site: u16,
        extra: &[&str],
    ) -> Self {
        let mut child = Command::new(BIN)
            .args(["demo", "--data"])
            .arg(data)
            .args(extra)
            .args([
                "--port-service",
                &port_service.to_string(),
                "--port-site",
                &port_site.to_string(),
            ])
            .env("TAPPROVE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn demo");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut site, mut service) = (String::new(), String::new());
        for line in out.lines().map_while(Result::ok) {
            if let Some(u) = line.trim().strip_prefix("Website: ") {
                site = u.to_owned();
            }
            if let Some(u) = line.trim().strip_prefix("Service: ") {
                service = u.to_owned();
            }
            if line.contains("Press Ctrl-C") {
                break;
            }
        }
        assert!(
            site.starts_with("http://127.0.0.1:") && service.starts_with("http://127.0.0.1:"),
            "demo did not print its URLs"
        );
        Self {
            child,
            site,
            service,
        }
    }

    fn port(url: &str) -> u16 {
        url.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    fn stop(mut self) {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let status = self.child.wait().expect("wait");
            assert!(status.success(), "demo exits cleanly on SIGTERM: {status}");
        }
        #[cfg(not(unix))]
        {
            let _ = self.child.kill();
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser without JavaScript: one cookie, no automatic redirects; it remembers the CSRF
/// token of the last page with a form and sends it with every form post, as the page's hidden
/// field would.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

/// The value of the page's hidden `csrf` field.
fn csrf_of(html: &str) -> Option<String> {
    let start = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

impl Browser {
    fn new(base: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(40))
            .build()
            .expect("client");
        Self {
            http,
            base: base.to_owned(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, String, String) {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let r = req.send().await.expect("send");
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = c.split(';').next().map(str::to_owned);
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = r.text().await.unwrap_or_default();
        if let Some(t) = csrf_of(&body) {
            self.csrf = Some(t);
        }
        (status, location, body)
    }

    async fn get(&mut self, path: &str) -> (u16, String, String) {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// Submits a form of the last page (its CSRF token added), with the Origin a browser sends.
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let token = self.csrf.clone().unwrap_or_default();
        let mut fields = form.to_vec();
        fields.push(("csrf", &token));
        let origin = self.base.clone();
        self.post_raw(path, &fields, &[("origin", &origin)]).await
    }

    /// Opens the sign-up form and signs `user` up with the tests' password.
    async fn sign_up(&mut self, user: &str) -> (u16, String, String) {
        self.get("/signup").await;
        self.post(
            "/signup",
            &[("user", user), ("password", "correct horse battery")],
        )
        .await
    }

    /// Posts exactly `form` with exactly `headers`.
    async fn post_raw(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }
}

/// The text of the element with `id` (first text node).
fn by_id(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in page"));
    let rest = &html[start..];
    let open = rest.find('>').expect(">") + 1;
    let close = rest[open..].find('<').expect("<");
    rest[open..open + close]
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Runs a command line printed by the site (shell-quoted).
async fn run_shell(cmd: &str) -> std::process::Output {
    let cmd = cmd.to_owned();
    tokio::task::spawn_blocking(move || Command::new("sh").arg("-c").arg(cmd).output().expect("sh"))
        .await
        .expect("join")
}

async fn login_and_answer(b: &mut Browser, store: &str, user: &str, pick_right: bool) -> String {
    b.get("/login").await;
    let (status, location, _) = b
        .post(
            "/login",
            &[("user", user), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/login/wait"));
    let (_, _, page) = b.get("/login/wait").await;
    let code = by_id(&page, "presence-code");
    let requests = ok_json(&tapprove(&["device", "requests", "--json", "--store", store]).await);
    let r = &requests.as_array().expect("array")[0];
    let id = r["id"].as_str().expect("id").to_owned();
    let options: Vec<String> = r["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let pick = options
        .iter()
        .find(|o| (**o == code) == pick_right)
        .expect("option")
        .clone();
    let o = tapprove(&[
        "device", "respond", &id, "--choose", &pick, "--store", store,
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    // No-JavaScript path: /login/check long-polls once and redirects.
    let (status, location, _) = b.get("/login/check").await;
    assert_eq!(status, 303);
    location
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_signup_pair_login_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let demo = Demo::start(&data, 0, 0);
    let mut b = Browser::new(&demo.site);

    // Webhook without credentials is refused.
    let (status, _, _) = b.post("/users/trust", &[("user", "x")]).await;
    assert_eq!(status, 401);

    let (status, location, _) = b.sign_up("alice").await;
    assert_eq!((status, location.as_str()), (303, "/pair"));
    let (status, _, page) = b.get("/pair").await;
    assert_eq!(status, 200);
    let code = by_id(&page, "pairing-code");
    assert_eq!(code.len(), 9, "XXXX-XXXX: {code}");
    assert!(page.contains("<svg"), "QR code inline");
    assert!(by_id(&page, "enrollment-uri").starts_with("tapprove://pair?"));
    let cmd = by_id(&page, "pair-command");
    assert!(cmd.contains(&demo.service) && cmd.contains(&code));
    assert!(cmd.contains("/device "), "the store is DIR/device: {cmd}");
    let o = run_shell(&cmd).await;
    assert!(
        o.status.success(),
        "pairing with the page's command failed: {}",
        stderr(&o)
    );
    let (_, _, status_json) = b.get("/pair/status").await;
    assert!(status_json.contains("\"paired\":true"), "{status_json}");
    // The code is used up.
    let o = run_shell(&cmd.replace("/device ", "/device-2 ")).await;
    assert!(!o.status.success());

    let store = data.join("device").to_string_lossy().into_owned();
    // Restricted page needs a login.
    let (status, location, _) = b.get("/account").await;
    assert_eq!((status, location.as_str()), (303, "/login"));
    // Wrong password.
    b.get("/login").await;
    let (status, _, page) = b
        .post(
            "/login",
            &[("user", "alice"), ("password", "wrong password!")],
        )
        .await;
    assert_eq!(status, 401);
    assert!(page.contains("Wrong user name or password"));
    // Wrong number → refused, clear message.
    let next = login_and_answer(&mut b, &store, "alice", false).await;
    assert_eq!(next, "/login/result");
    let (_, _, page) = b.get("/login/result").await;
    assert!(page.contains("wrong number"), "{page}");
    // Right number → restricted page.
    let next = login_and_answer(&mut b, &store, "alice", true).await;
    assert_eq!(next, "/account");
    let (status, _, page) = b.get("/account").await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"restricted\"") && page.contains("alice"));
    // Logged in: pair another device.
    let (status, location, _) = b.post("/pair", &[]).await;
    assert_eq!((status, location.as_str()), (303, "/pair"));
    let (_, _, page) = b.get("/pair").await;
    assert_ne!(by_id(&page, "pairing-code"), code, "a fresh code");
    let (status, location, _) = b.post("/logout", &[]).await;
    assert_eq!((status, location.as_str()), (303, "/"));
    let (status, _, _) = b.get("/account").await;
    assert_eq!(status, 303);

    // A second user: five wrong codes through the real service void the code.
    let mut b2 = Browser::new(&demo.site);
    b2.get("/signup").await;
    let (status, _, _) = b2
        .post(
            "/signup",
            &[("user", "bob"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, page) = b2.get("/pair").await;
    let bob_cmd = by_id(&page, "pair-command");
    let bob_code = by_id(&page, "pairing-code");
    for i in 0..5 {
        let wrong = bob_cmd
            .replace(&bob_code, "0000-0000")
            .replace("/device ", &format!("/device-w{i} "));
        assert!(!run_shell(&wrong).await.status.success());
    }
    let o = run_shell(&bob_cmd.replace("/device ", "/device-bob ")).await;
    let line = failed_line(&o);
    assert!(
        line.contains("did not accept"),
        "the right code is void after 5 wrong tries: {line}"
    );
    // Cross-site form posts are refused.
    let req = b2
        .http
        .post(format!("{}/logout", demo.site))
        .header("origin", "http://evil.example");
    let (status, _, _) = b2.send(req).await;
    assert_eq!(status, 403);
    // Ports in use: one line that names the flag.
    let o = tapprove(&[
        "demo",
        "--data",
        &data.to_string_lossy(),
        "--port-site",
        &Demo::port(&demo.site).to_string(),
    ])
    .await;
    assert!(failed_line(&o).contains("--port-site"));

    // Restart on the same ports and data: the project, users and devices are kept.
    let (ps, pw) = (Demo::port(&demo.service), Demo::port(&demo.site));
    demo.stop();
    let demo = Demo::start(&data, ps, pw);
    let mut b = Browser::new(&demo.site);
    let next = login_and_answer(&mut b, &store, "alice", true).await;
    assert_eq!(next, "/account");
    let (status, _, _) = b.get("/account").await;
    assert_eq!(status, 200);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["seal.key", "demo-project.json", "site.json"] {
            let mode = std::fs::metadata(data.join(f))
                .expect(f)
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    demo.stop();

    // Restart with the website on another port: the project follows it (set-trust-url), so
    // the paired device still answers and a new pairing reaches the moved trust webhook.
    let demo = Demo::start(&data, ps, 0);
    assert_ne!(Demo::port(&demo.site), pw);
    let mut b = Browser::new(&demo.site);
    let next = login_and_answer(&mut b, &store, "alice", true).await;
    assert_eq!(next, "/account");
    b.get("/account").await;
    let (status, _, _) = b.post("/pair", &[]).await;
    assert_eq!(status, 303);
    let (_, _, page) = b.get("/pair").await;
    let cmd = by_id(&page, "pair-command").replace("/device ", "/device-moved ");
    let o = run_shell(&cmd).await;
    assert!(o.status.success(), "pairing after the move: {}", stderr(&o));
    demo.stop();
}

/// A demo on free ports in a new data directory (kept while the first value lives) and a
/// browser for it.
fn fresh_demo() -> (tempfile::TempDir, Demo, Browser) {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::start(&dir.path().join("data"), 0, 0);
    let b = Browser::new(&demo.site);
    (dir, demo, b)
}

/// Signs `user` up in `b` and pairs the terminal authenticator with the page's command
/// (store `DIR/device`); returns the store.
async fn signup_and_pair(b: &mut Browser, data: &std::path::Path, user: &str) -> String {
    let (status, location, _) = b.sign_up(user).await;
    assert_eq!((status, location.as_str()), (303, "/pair"));
    let (_, _, page) = b.get("/pair").await;
    let o = run_shell(&by_id(&page, "pair-command")).await;
    assert!(o.status.success(), "pairing failed: {}", stderr(&o));
    data.join("device").to_string_lossy().into_owned()
}

/// A refused form post: its fields, its headers, what the page must say.
type Refusal<'a> = (&'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)], &'a str);

/// Requests `path` with exactly this cookie (or none).
async fn get_with_cookie(demo: &Demo, path: &str, cookie: Option<&str>) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut req = http.get(format!("{}{path}", demo.site));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.expect("send");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (r.status().as_u16(), location)
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_renews_session_ids_and_guards_every_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let demo = Demo::start(&data, 0, 0);
    let mut b = Browser::new(&demo.site);

    // Sign-up: the id that saw the sign-up form is not the one that sees the pairing code.
    b.get("/signup").await;
    let planted = b.cookie.clone().expect("a session for the form's token");
    let store = signup_and_pair(&mut b, &data, "alice").await;
    assert_ne!(b.cookie.as_deref(), Some(planted.as_str()));
    assert_eq!(
        get_with_cookie(&demo, "/pair", Some(&planted)).await,
        (303, "/login".to_owned()),
        "the planted id cannot see the pairing code"
    );

    // Login: a planted id (the one the login form was served to) is worth nothing after it.
    b.get("/login").await;
    let before_login = b.cookie.clone().expect("cookie");
    assert_eq!(
        login_and_answer(&mut b, &store, "alice", true).await,
        "/account"
    );
    let logged_in = b.cookie.clone().expect("cookie");
    assert_ne!(before_login, logged_in, "a new session id at login");
    assert_eq!(
        get_with_cookie(&demo, "/account", Some(&before_login)).await,
        (303, "/login".to_owned())
    );
    assert_eq!(
        get_with_cookie(&demo, "/account", Some(&logged_in)).await.0,
        200
    );

    // Forms without this session's token, or from another origin, are refused.
    let (_, _, page) = b.get("/account").await;
    let token = csrf_of(&page).expect("the logout form carries a token");
    let origin = demo.site.clone();
    let refusals: [Refusal<'_>; 6] = [
        (&[], &[("origin", &origin)], "This form has expired"),
        (
            &[("csrf", "forged")],
            &[("origin", &origin)],
            "This form has expired",
        ),
        (
            &[("csrf", &token)],
            &[("origin", "null")],
            "did not come from a Demo Bank page",
        ),
        (
            &[("csrf", &token)],
            &[("origin", "http://evil.example")],
            "did not come from",
        ),
        (
            &[("csrf", &token)],
            &[("sec-fetch-site", "cross-site")],
            "did not come from",
        ),
        (
            &[("csrf", &token)],
            &[("origin", &format!("{origin}.evil.example"))],
            "did not come from",
        ),
    ];
    for (form, headers, says) in refusals {
        let (status, _, page) = b.post_raw("/logout", form, headers).await;
        assert_eq!(status, 403, "{form:?} {headers:?}");
        assert!(page.contains(says), "{form:?} {headers:?}: {page}");
        assert_eq!(
            get_with_cookie(&demo, "/account", Some(&logged_in)).await.0,
            200,
            "still logged in"
        );
    }
    // Another browser's token does not work in this session.
    let mut other = Browser::new(&demo.site);
    let (_, _, page) = other.get("/login").await;
    let foreign = csrf_of(&page).expect("token");
    let (status, _, _) = b
        .post_raw("/logout", &[("csrf", &foreign)], &[("origin", &origin)])
        .await;
    assert_eq!(status, 403);
    // Without Origin (an old browser, no-JS client), the token alone is enough.
    let (status, location, _) = b.post_raw("/logout", &[("csrf", &token)], &[]).await;
    assert_eq!((status, location.as_str()), (303, "/"));

    // Logout: the logged-in id is dead, the browser has a new one.
    assert_ne!(b.cookie.as_deref(), Some(logged_in.as_str()));
    assert_eq!(
        get_with_cookie(&demo, "/account", Some(&logged_in)).await,
        (303, "/login".to_owned()),
        "the old id is logged out"
    );
    let (status, _, page) = b.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("You are logged out"), "{page}");
    demo.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_limits_wrong_passwords_per_user_and_per_network() {
    let (_dir, demo, mut b) = fresh_demo();
    for user in ["alice", "bob"] {
        let (status, _, _) = b.sign_up(user).await;
        assert_eq!(status, 303);
    }
    let attempt = async |b: &mut Browser, user: &str, password: &str| {
        b.get("/login").await;
        b.post("/login", &[("user", user), ("password", password)])
            .await
    };
    for _ in 0..5 {
        let (status, _, page) = attempt(&mut b, "alice", "wrong password!").await;
        assert_eq!(status, 401, "{page}");
    }
    // Six: refused before the password is even checked, the right one included.
    let (status, _, page) = attempt(&mut b, "alice", "correct horse battery").await;
    assert_eq!(status, 429);
    assert!(
        page.contains("Too many wrong passwords for this account; wait 15 minutes"),
        "{page}"
    );
    // Other accounts are not affected (no device yet: the right password leads to pairing).
    let (status, location, _) = attempt(&mut b, "bob", "correct horse battery").await;
    assert_eq!((status, location.as_str()), (303, "/pair"));
    // Spraying other names from the same network: 20 wrong passwords in all close it.
    // (Names no account can have count too, without being hashed.)
    for i in 0..15 {
        let name = if i == 0 {
            "Not A Name!".to_owned()
        } else {
            format!("nobody{i}")
        };
        let (status, _, page) = attempt(&mut b, &name, "wrong password!").await;
        assert_eq!(status, 401);
        assert!(page.contains("Wrong user name or password"), "{page}");
    }
    let (status, _, page) = attempt(&mut b, "bob", "correct horse battery").await;
    assert_eq!(status, 429);
    assert!(page.contains("from your network"), "{page}");
    demo.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_bounds_password_hashing() {
    let (_dir, demo, mut b) = fresh_demo();
    let long = "x".repeat(257);
    b.get("/signup").await;
    let (status, _, page) = b
        .post("/signup", &[("user", "alice"), ("password", &long)])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("8 to 256 characters"), "{page}");
    b.get("/login").await;
    let (status, _, page) = b
        .post("/login", &[("user", "alice"), ("password", &long)])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("at most 256 characters"), "{page}");
    let huge = "x".repeat(20_000);
    let (status, _, page) = b
        .post("/login", &[("user", "alice"), ("password", &huge)])
        .await;
    assert_eq!(status, 413, "{page}");

    // Many logins at once: two hashes run, eight wait, the rest are told to come back.
    let (_, _, page) = b.get("/login").await;
    let token = csrf_of(&page).expect("token");
    let cookie = b.cookie.clone().expect("cookie");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let req = http
                .post(format!("{}/login", demo.site))
                .header("cookie", &cookie)
                .header("origin", &demo.site)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "user=user{i}&password=wrong+password%21&csrf={token}"
                ));
            tokio::spawn(async move {
                let r = req.send().await.expect("send");
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").is_some();
                (status, retry, r.text().await.unwrap_or_default())
            })
        })
        .collect();
    let mut busy = 0;
    for t in tasks {
        let (status, retry, page) = t.await.expect("join");
        assert!(matches!(status, 401 | 429 | 503), "{status}: {page}");
        if status == 503 {
            busy += 1;
            assert!(
                retry && page.contains("busy checking other passwords"),
                "{page}"
            );
        }
    }
    assert!(busy > 0, "60 concurrent logins never met the hashing bound");
    demo.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_with_nist_aal2_shows_a_typed_six_digit_code_and_requires_user_verification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let demo = Demo::start_with(&data, 0, 0, &["--policy", "nist-aal2"]);
    let mut b = Browser::new(&demo.site);
    let store = signup_and_pair(&mut b, &data, "olga").await;
    b.get("/login").await;
    let (status, location, _) = b
        .post(
            "/login",
            &[("user", "olga"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/login/wait"));
    let (_, _, page) = b.get("/login/wait").await;
    assert!(page.contains("Type this code"), "{page}");
    let code = by_id(&page, "presence-code");
    assert!(
        code.len() == 6 && code.bytes().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    let requests = ok_json(&tapprove(&["device", "requests", "--json", "--store", &store]).await);
    let r = &requests.as_array().expect("array")[0];
    let id = r["id"].as_str().expect("id").to_owned();
    assert!(
        r["options"].as_array().is_none_or(Vec::is_empty),
        "the phone is not given the code: {r}"
    );
    // The terminal authenticator has no user verification yet: the service refuses the
    // approval (nist-aal2 requires `uv`) and the login stays open.
    let o = tapprove(&[
        "device", "respond", &id, "--choose", &code, "--store", &store,
    ])
    .await;
    assert!(!o.status.success(), "approved without user verification");
    let (_, _, page) = b.get("/login/wait").await;
    assert_eq!(
        by_id(&page, "presence-code"),
        code,
        "the login is still waiting"
    );
    demo.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_a_planted_session_id_cannot_complete_or_take_over_a_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let demo = Demo::start(&data, 0, 0);
    let mut setup = Browser::new(&demo.site);
    let store = signup_and_pair(&mut setup, &data, "alice").await;

    // The attacker gets a session id from the login page and plants it in the victim's
    // browser: two cookie jars sharing one id.
    let mut attacker = Browser::new(&demo.site);
    attacker.get("/login").await;
    let planted = attacker.cookie.clone().expect("a session id");
    let mut victim = Browser::new(&demo.site);
    victim.cookie = Some(planted.clone());
    victim.get("/login").await;
    assert_eq!(
        victim.cookie.as_deref(),
        Some(planted.as_str()),
        "the id is shared"
    );

    // The victim's password is right: the victim's browser moves to a new id at once.
    let (status, location, _) = victim
        .post(
            "/login",
            &[("user", "alice"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/login/wait"));
    let victims = victim.cookie.clone().expect("cookie");
    assert_ne!(
        victims, planted,
        "a new session id when the password is verified"
    );
    let (status, _, body) = attacker.get("/login/status").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["state"], "none", "the planted id sees no login: {v}");

    // The victim approves on the phone; the planted id still completes nothing.
    let (_, _, page) = victim.get("/login/wait").await;
    let code = by_id(&page, "presence-code");
    let requests = ok_json(&tapprove(&["device", "requests", "--json", "--store", &store]).await);
    let r = &requests.as_array().expect("array")[0];
    let id = r["id"].as_str().expect("id").to_owned();
    let o = tapprove(&[
        "device", "respond", &id, "--choose", &code, "--store", &store,
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let (status, location, _) = attacker.get("/login/check").await;
    assert_eq!((status, location.as_str()), (303, "/login"));
    assert_eq!(
        attacker.cookie.as_deref(),
        Some(planted.as_str()),
        "no new id for it"
    );
    assert_eq!(
        get_with_cookie(&demo, "/account", Some(&planted)).await,
        (303, "/login".to_owned())
    );
    // The victim's own browser completes the login, under yet another id.
    let (status, location, _) = victim.get("/login/check").await;
    assert_eq!((status, location.as_str()), (303, "/account"));
    let logged_in = victim.cookie.clone().expect("cookie");
    assert_ne!(logged_in, victims);
    assert_eq!(
        get_with_cookie(&demo, "/account", Some(&logged_in)).await.0,
        200
    );
    // The id the login completed from is gone: it cannot mint a second logged-in session.
    assert_eq!(
        get_with_cookie(&demo, "/login/check", Some(&victims)).await,
        (303, "/login".to_owned())
    );
    demo.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_behind_https_uses_a_secure_host_cookie() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::start_with(
        &dir.path().join("data"),
        0,
        0,
        &["--public-url", "https://bank.example/"],
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .get(format!("{}/login", demo.site))
        .send()
        .await
        .expect("send");
    let set_cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        set_cookie.starts_with("__Host-demo_sid=") && set_cookie.ends_with("; Secure"),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Path=/;") && !set_cookie.contains("Domain"));
    // The session is read back under that name: a form from the public origin with its token
    // reaches the password check (401), not the CSRF refusal (403).
    let page = r.text().await.expect("page");
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();
    let mut b = Browser::new(&demo.site);
    b.cookie = Some(cookie);
    b.csrf = csrf_of(&page);
    let token = b.csrf.clone().expect("token");
    let form = [("user", "nobody"), ("password", "wrong"), ("csrf", &token)];
    let (status, _, _) = b
        .post_raw("/login", &form, &[("origin", "https://bank.example")])
        .await;
    assert_eq!(status, 401);
    let (status, _, _) = b
        .post_raw("/login", &form, &[("origin", &demo.site.clone())])
        .await;
    assert_eq!(status, 403, "the loopback origin is not the public one");
    demo.stop();
}

/// Signs `user` up, then logs in with the password (no phone paired yet, so the site offers
/// pairing) and opens "I lost my phone"; returns the page.
async fn password_checked_lost_page(b: &mut Browser, user: &str) -> String {
    let (status, location, _) = b.sign_up(user).await;
    assert_eq!((status, location.as_str()), (303, "/pair"));
    b.get("/login").await;
    let (status, location, _) = b
        .post(
            "/login",
            &[("user", user), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/pair"), "no phone yet");
    let (status, _, page) = b.get("/login/lost").await;
    assert_eq!(status, 200, "{page}");
    page
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_lost_phone_needs_the_recovery_code_unless_the_insecure_flag_is_given() {
    let (_dir, demo, mut b) = fresh_demo();
    let page = password_checked_lost_page(&mut b, "alice").await;
    assert!(page.contains(r#"name="recovery_code""#), "{page}");
    assert!(!page.contains("recovery-note"), "{page}");
    // The password alone is refused.
    let (status, location, _) = b.post("/login/lost", &[]).await;
    assert_eq!((status, location.as_str()), (303, "/login"));
    let (_, _, page) = b.get("/login").await;
    assert!(page.contains("That recovery code is not right"), "{page}");
    demo.stop();

    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::start_with(
        &dir.path().join("data"),
        0,
        0,
        &["--insecure-password-only-recovery"],
    );
    let mut b = Browser::new(&demo.site);
    let page = password_checked_lost_page(&mut b, "alice").await;
    assert!(!page.contains(r#"name="recovery_code""#), "{page}");
    assert!(page.contains("Insecure demo shortcut"), "{page}");
    let (status, location, _) = b.post("/login/lost", &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/pair"),
        "the password alone"
    );
    let (_, _, page) = b.get("/pair").await;
    assert!(page.contains("Insecure demo shortcut"), "{page}");
    demo.stop();
}
