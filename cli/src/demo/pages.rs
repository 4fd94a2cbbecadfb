//! Server-rendered HTML of the demo site. No external resources: CSS and the little JavaScript
//! are inline.

use std::fmt::Write;

use tapprove_protocol::api::{DeviceView, KeyProtection, PushPlatform};

use super::store::Flash;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const LOGO: &str = r##"<svg width="26" height="22" viewBox="0 0 26 22" aria-hidden="true" style="vertical-align:-4px;margin-right:10px"><path d="M13 1 1 7h24z" fill="#fff"/><rect x="3" y="8.5" width="3" height="9" fill="#fff"/><rect x="9" y="8.5" width="3" height="9" fill="#fff"/><rect x="14" y="8.5" width="3" height="9" fill="#fff"/><rect x="20" y="8.5" width="3" height="9" fill="#fff"/><rect x="1" y="19" width="24" height="2.5" fill="#fff"/></svg>"##;

const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f5f9;color:#1c2333}
header{background:#0b3d91;color:#fff;padding:14px 28px;display:flex;align-items:center;justify-content:space-between}
header a{color:#fff;text-decoration:none}.brand{font-weight:700;font-size:20px;letter-spacing:.3px}
header nav a,header nav button{margin-left:18px;color:#dfe7ff;background:none;border:0;font:inherit;cursor:pointer;padding:0}
main{max-width:720px;margin:36px auto;padding:0 20px}
.card{background:#fff;border-radius:12px;box-shadow:0 2px 10px rgba(10,30,80,.08);padding:28px 32px;margin-bottom:20px}
h1{font-size:26px;margin:0 0 12px}h2{font-size:19px;margin:18px 0 8px}
label{display:block;margin:14px 0 4px;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:10px 12px;border:1px solid #c5cbd8;border-radius:8px;font-size:16px}
button.primary,a.button{display:inline-block;margin-top:18px;background:#0b3d91;color:#fff;border:0;border-radius:8px;padding:11px 20px;font-size:16px;cursor:pointer;text-decoration:none}
button.secondary{margin-top:18px;background:#e7ebf3;color:#1c2333;border:0;border-radius:8px;padding:11px 20px;font-size:16px;cursor:pointer}
.flash{border-radius:10px;padding:14px 18px;margin-bottom:20px}.flash.ok{background:#e3f6e8;color:#155d27}
.flash.warn{background:#fff4d6;color:#6b4d00}.flash.danger{background:#fde4e4;color:#8a1111}
.code{font:700 40px/1.2 ui-monospace,SFMono-Regular,Menlo,monospace;letter-spacing:4px;color:#0b3d91}
.number{font:800 96px/1 ui-monospace,SFMono-Regular,Menlo,monospace;color:#0b3d91;text-align:center;margin:18px 0}
.muted{color:#5b6478;font-size:14px}pre{background:#0f1729;color:#d6e2ff;padding:12px 14px;border-radius:8px;overflow-x:auto;font-size:13px;white-space:pre-wrap;word-break:break-all}
.pair{display:flex;gap:28px;align-items:flex-start;flex-wrap:wrap}.qr svg{width:210px;height:210px}
.center{text-align:center}.balance{font-size:34px;font-weight:700}table{width:100%;border-collapse:collapse}
td{padding:8px 0;border-bottom:1px solid #eef0f5}td.amt{text-align:right;font-variant-numeric:tabular-nums}
.spinner{display:inline-block;width:18px;height:18px;border:3px solid #c5cbd8;border-top-color:#0b3d91;border-radius:50%;animation:spin 1s linear infinite;vertical-align:middle;margin-right:8px}
@keyframes spin{to{transform:rotate(360deg)}}
th{text-align:left;font-size:13px;color:#5b6478;font-weight:600;padding:6px 8px 6px 0;border-bottom:1px solid #dfe3ec}
table.devices td{padding:10px 8px 10px 0;font-size:14px;vertical-align:middle}
button.danger{background:#fde4e4;color:#8a1111;border:0;border-radius:8px;padding:7px 14px;font-size:14px;cursor:pointer}
button.danger.big{margin-top:18px;padding:11px 20px;font-size:16px;background:#b3261e;color:#fff}
.badge{display:inline-block;background:#e3f6e8;color:#155d27;border-radius:6px;padding:1px 7px;font-size:12px;margin-left:6px}
.note{background:#f3f5f9;border-left:4px solid #c5cbd8;padding:10px 14px;border-radius:6px;font-size:14px;margin-top:16px}
"#;

/// The hidden form field carrying the session's CSRF token (every POST form has one).
pub fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// The page frame: header with navigation, an optional flash message, and `body`. `csrf` goes
/// into the logout form.
pub fn layout(
    title: &str,
    user: Option<&str>,
    flash: Option<&Flash>,
    csrf: &str,
    body: &str,
) -> String {
    let nav = match user {
        Some(u) => format!(
            r#"<span>{}</span><a href="/account">Account</a><a href="/devices" id="nav-devices">Your devices</a>
<form method="post" action="/logout" style="display:inline">{}<button type="submit" id="logout">Log out</button></form>"#,
            esc(u),
            csrf_field(csrf)
        ),
        None => r#"<a href="/login">Log in</a><a href="/signup">Sign up</a>"#.to_owned(),
    };
    let flash = flash.map_or(String::new(), |f| {
        format!(
            r#"<div class="flash {}" id="flash"><strong>{}</strong><br>{}</div>"#,
            f.kind,
            esc(&f.title),
            esc(&f.message)
        )
    });
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{} · Demo Bank</title>
<style>{CSS}</style></head><body><header><a class="brand" href="/">{LOGO}Demo Bank</a><nav>{nav}</nav></header>
<main>{flash}{body}</main></body></html>"#,
        esc(title)
    )
}

/// Home page.
pub fn home(user: Option<&str>, flash: Option<&Flash>, csrf: &str) -> String {
    let body = match user {
        Some(u) => format!(
            r#"<div class="card"><h1>Hello, {}</h1><p>You are logged in.</p><a class="button" href="/account">Go to your account</a></div>"#,
            esc(u)
        ),
        None => r#"<div class="card"><h1>Welcome to Demo Bank</h1>
<p>This site logs you in with your password <em>and</em> a tap on your paired phone: the login
page shows a number, your phone shows three, and you pick the one that matches.</p>
<a class="button" href="/signup">Sign up</a> &nbsp; <a class="button" href="/login">Log in</a></div>"#
            .to_owned(),
    };
    layout("Home", user, flash, csrf, &body)
}

/// Sign-up form.
pub fn signup(flash: Option<&Flash>, user: &str, csrf: &str) -> String {
    let body = format!(
        r#"<div class="card"><h1>Create your account</h1><form method="post" action="/signup">{}
<label for="user">User name</label><input type="text" id="user" name="user" value="{}" autocomplete="username" required pattern="[a-z0-9._\-]{{1,32}}" title="1-32 characters: a-z, 0-9, dot, dash, underscore">
<label for="password">Password (8 to 256 characters)</label><input type="password" id="password" name="password" autocomplete="new-password" required minlength="8" maxlength="256">
<button class="primary" type="submit" id="signup">Sign up</button></form></div>"#,
        csrf_field(csrf),
        esc(user)
    );
    layout("Sign up", None, flash, csrf, &body)
}

/// Login form.
pub fn login(flash: Option<&Flash>, user: &str, csrf: &str) -> String {
    let body = format!(
        r#"<div class="card"><h1>Log in</h1><form method="post" action="/login">{}
<label for="user">User name</label><input type="text" id="user" name="user" value="{}" autocomplete="username" required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required maxlength="256">
<button class="primary" type="submit" id="login">Log in</button></form>
<p class="muted">No account yet? <a href="/signup">Sign up</a>.</p>
<p class="muted" id="lost-hint">Lost your phone? Log in with your password as usual: the next page
offers <em>I lost my phone</em>.</p></div>"#,
        csrf_field(csrf),
        esc(user)
    );
    layout("Log in", None, flash, csrf, &body)
}

/// What the pairing page shows.
pub struct PairingView<'a> {
    /// The user being paired.
    pub user: &'a str,
    /// Canonical pairing code.
    pub code: &'a str,
    /// Display form `XXXX-XXXX`.
    pub code_display: &'a str,
    /// `tapprove://pair?…`
    pub enrollment_uri: &'a str,
    /// Inline SVG QR code of the URI.
    pub qr_svg: &'a str,
    /// The exact terminal command.
    pub pair_command: &'a str,
    /// Logged in (pairing another device) or just signed up.
    pub logged_in: bool,
    /// After "I lost my phone" on the password alone (the insecure demo flag).
    pub recovery_shortcut: bool,
    /// A recovery code just issued (display form), shown this once.
    pub new_recovery_code: Option<&'a str>,
}

/// Pairing code, QR code and the terminal command; waits for the pairing via long-poll.
pub fn pairing(v: &PairingView<'_>, flash: Option<&Flash>, csrf: &str) -> String {
    let (next, paired_text) = if v.logged_in {
        (
            "/devices",
            "Phone paired. Continue to Your devices and remove the phone it replaces.",
        )
    } else {
        ("/login", "Phone paired. You can now log in with it.")
    };
    let recovery = if v.recovery_shortcut {
        RECOVERY_NOTE
    } else {
        ""
    };
    let recovery_code = v.new_recovery_code.map_or_else(String::new, |c| {
        format!(
            r#"<div class="flash warn" id="recovery-box"><strong>Your recovery code</strong>
<div class="code" id="recovery-code">{}</div>
Write it down and keep it away from your phone: it is shown only this once. If you lose your
phone, "I lost my phone" asks for your password <em>and</em> this code before it removes your
devices. It works once; a new one is shown when you use it.</div>"#,
            esc(c)
        )
    });
    let body = format!(
        r#"<div class="card"><h1>Pair your phone</h1>{recovery_code}
<p>Open the authenticator and enter user name <strong>{user}</strong> and this one-time code
(valid 10 minutes, one use), or scan the QR code.</p>
<div class="pair"><div><div class="muted">Pairing code</div><div class="code" id="pairing-code" data-code="{code}">{display}</div>
<div class="muted" style="margin-top:14px">User name</div><div><strong id="pairing-user">{user}</strong></div>
<div id="pair-state" class="muted" style="margin-top:18px"><span class="spinner"></span>Waiting for your phone…</div></div>
<div class="qr" title="Enrollment QR code">{qr}</div></div>
<h2>Enrollment URI</h2><pre id="enrollment-uri">{uri}</pre>
<h2>Terminal authenticator</h2><p class="muted">No phone at hand? In a second terminal run:</p>
<pre id="pair-command">{cmd}</pre>
<a class="button" href="{next}" id="continue">Continue</a>{recovery}</div>
<script>
(async function(){{for(let i=0;i<60;i++){{try{{const r=await fetch('/pair/status',{{cache:'no-store'}});const j=await r.json();
if(j.paired){{const s=document.getElementById('pair-state');s.className='flash ok';s.textContent='{paired_text}';return;}}
if(j.gone)return;}}catch(e){{await new Promise(r=>setTimeout(r,3000));}}}}}})();
</script>"#,
        user = esc(v.user),
        code = esc(v.code),
        display = esc(v.code_display),
        qr = v.qr_svg,
        uri = esc(v.enrollment_uri),
        cmd = esc(v.pair_command),
    );
    layout(
        "Pair your phone",
        v.logged_in.then_some(v.user),
        flash,
        csrf,
        &body,
    )
}

/// What the recovery pairing page and the "lost my phone" page say when the demo runs with
/// `--insecure-password-only-recovery`.
const RECOVERY_NOTE: &str = r#"<p class="note" id="recovery-note"><strong>Insecure demo shortcut.</strong>
This Demo Bank was started with <code>--insecure-password-only-recovery</code>: the password alone
removes every phone and pairs a new one. A real site must never do this: it asks for a recovery
code (as Demo Bank does by default), a link sent to the email address on file, or a call to
support, or whoever learns the password takes over the account.</p>"#;

fn platform_text(p: PushPlatform) -> &'static str {
    match p {
        PushPlatform::Apns => "iPhone (APNs)",
        PushPlatform::Fcm => "Android (FCM)",
        PushPlatform::Webpush => "Android (UnifiedPush)",
        PushPlatform::None => "No push",
    }
}

fn protection_text(k: KeyProtection) -> &'static str {
    match k {
        KeyProtection::Hardware => "Hardware (secure element)",
        KeyProtection::Software => "Software",
        KeyProtection::Unknown => "Not reported",
    }
}

/// A service time as shown to the user: `2026-12-01 12:23 UTC`.
fn when(unix: i64) -> String {
    crate::output::utc_minutes(unix)
}

/// "Your devices": the user's paired phones from the service, or why they cannot be shown.
pub fn devices(
    user: &str,
    list: Result<&[DeviceView], &str>,
    flash: Option<&Flash>,
    csrf: &str,
) -> String {
    let mut body = String::from(r#"<div class="card"><h1>Your devices</h1>"#);
    match list {
        Err(why) => {
            let _ = write!(
                body,
                r#"<div class="flash danger" id="devices-error"><strong>Cannot show your devices</strong><br>{}</div>"#,
                esc(why)
            );
        }
        Ok([]) => body.push_str(
            r#"<p id="no-devices">No phone is paired with your account: nothing can approve a login for you. Add a phone now; otherwise your next login asks you to pair one.</p>"#,
        ),
        Ok(list) => {
            body.push_str(
                r#"<p class="muted">These devices can approve logins to your account. Remove any you no longer use or do not recognise.</p>
<table class="devices" id="devices"><tr><th>Name</th><th>Platform</th><th>Paired on</th><th>Last used</th><th>Key protection</th><th></th></tr>"#,
            );
            // One newest even when two paired in the same second: the service's ids sort by
            // creation time.
            let newest = list
                .iter()
                .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
                .map(|d| d.id.clone());
            for d in list {
                let badge = if list.len() > 1 && newest.as_ref() == Some(&d.id) {
                    r#"<span class="badge">newest</span>"#
                } else {
                    ""
                };
                let _ = write!(
                    body,
                    r#"<tr data-device="{id}"><td class="name">{name}{badge}</td><td>{platform}</td><td>{paired}</td><td>{used}</td><td class="protection">{protection}</td>
<td><form method="post" action="/devices/remove" style="margin:0">{csrf}<input type="hidden" name="device" value="{id}"><button class="danger" type="submit" id="remove-{id}">Remove</button></form></td></tr>"#,
                    id = esc(&d.id),
                    name = esc(d.name.as_deref().unwrap_or("Unnamed device")),
                    platform = platform_text(d.platform),
                    paired = esc(&when(d.created_at)),
                    used = d.last_used_at.map_or("Never".to_owned(), |t| esc(&when(t))),
                    protection = protection_text(d.key_protection),
                    csrf = csrf_field(csrf),
                );
            }
            body.push_str("</table>");
            if list.len() > 1 {
                let _ = write!(
                    body,
                    r#"<p class="note" id="remove-old-hint">{} devices can approve your logins. If the newest one replaces an old phone, remove the old one: a phone you no longer carry can still approve logins until you do.</p>"#,
                    list.len()
                );
            }
        }
    }
    let _ = write!(
        body,
        r#"<h2>New phone?</h2><p class="muted">Pair it with a one-time code, check that it works, then remove the old one here.</p>
<form method="post" action="/pair">{}<button class="primary" type="submit" id="add-phone">Add a phone</button></form></div>"#,
        csrf_field(csrf)
    );
    layout("Your devices", Some(user), flash, csrf, &body)
}

/// "I lost my phone": what removing every device means, the recovery code field (unless the
/// demo runs with the insecure password-only shortcut), and the button that does it.
pub fn lost_phone(user: &str, flash: Option<&Flash>, csrf: &str, needs_code: bool) -> String {
    let (field, note) = if needs_code {
        (
            r#"<label for="recovery_code">Recovery code (shown when you signed up)</label>
<input id="recovery_code" name="recovery_code" autocomplete="off" spellcheck="false" placeholder="XXXX-XXXX-XXXX-XXXX" required>"#,
            r#"<p class="muted" id="recovery-explained">Your password alone is not enough: whoever
learned it could otherwise remove your phone and pair theirs. The recovery code works once; you get
a new one with your new phone.</p>"#,
        )
    } else {
        ("", RECOVERY_NOTE)
    };
    let body = format!(
        r#"<div class="card"><h1>Lost your phone?</h1>
<p>Your password for <strong>{user}</strong> is right, but a lost or stolen phone cannot approve
this login, and whoever has it should not be able to either.</p>
<p>This removes <strong>every</strong> phone paired with your account at once: none of them can
approve a login any more. Then you pair your new phone with a one-time code and log in with it.</p>
<form method="post" action="/login/lost">{csrf}{field}<button class="danger big" type="submit" id="remove-all">Remove all my devices</button></form>
<p class="muted"><a href="/login">Back to the login</a> if you still have your phone.</p>{note}</div>"#,
        user = esc(user),
        csrf = csrf_field(csrf),
    );
    layout("Lost your phone?", None, flash, csrf, &body)
}

/// The outcome of a login that did not go through, offering "I lost my phone" when the
/// password was just checked.
pub fn login_result(flash: &Flash, user: Option<&str>, lost: bool, csrf: &str) -> String {
    let lost = if lost {
        r#"<p class="muted" style="margin-top:18px">Phone lost or stolen? <a href="/login/lost" id="lost-phone">I lost my phone</a></p>"#
    } else {
        ""
    };
    let body = format!(
        r#"<div class="card"><h1>{}</h1><div class="flash {}" id="flash">{}</div>
<a class="button" href="/login" id="again">Log in again</a>{lost}</div>"#,
        esc(&flash.title),
        flash.kind,
        esc(&flash.message),
    );
    layout(&flash.title, user, None, csrf, &body)
}

/// "Choose NN on your phone": waits for the decision through the site's long-poll endpoint.
pub fn login_wait(
    user: &str,
    code: Option<&str>,
    seconds_left: i64,
    listen_command: &str,
    csrf: &str,
) -> String {
    let mut body = String::from(r#"<div class="card center"><h1>Check your phone</h1>"#);
    match code {
        Some(c) => {
            let _ = write!(
                body,
                r#"<p>We sent a login request to the phone paired with <strong>{}</strong>. {} on it:</p>
<div class="number" id="presence-code">{}</div>"#,
                esc(user),
                // `choose` codes have 2 digits; typed (`entry`, `nist-aal2`) codes 4 to 12.
                if c.len() > 2 {
                    "Type this code"
                } else {
                    "Choose this number"
                },
                esc(c)
            );
        }
        None => {
            let _ = write!(
                body,
                r#"<p>Approve the request on the phone paired with <strong>{}</strong>.</p>"#,
                esc(user)
            );
        }
    }
    let _ = write!(
        body,
        r#"<p id="wait-state"><span class="spinner"></span>Waiting for your answer… <span id="countdown">{seconds_left}</span> s left</p>
<noscript><form method="get" action="/login/check"><button class="primary" type="submit">I answered on my phone</button></form></noscript>
<form method="post" action="/login/cancel">{}<button class="secondary" type="submit" id="cancel">Cancel</button></form>
<p class="muted">Phone lost or stolen? <a href="/login/lost" id="lost-phone">I lost my phone</a></p>
<p class="muted">Terminal authenticator: <code>{}</code></p></div>
<script>
let left={seconds_left};const cd=document.getElementById('countdown');
setInterval(()=>{{if(left>0){{left--;cd.textContent=left;}}}},1000);
(async function(){{for(;;){{try{{const r=await fetch('/login/status',{{cache:'no-store'}});const j=await r.json();
if(j.state!=='pending'){{location.href=j.next;return;}}}}catch(e){{await new Promise(r=>setTimeout(r,3000));}}}}}})();
</script>"#,
        csrf_field(csrf),
        esc(listen_command)
    );
    layout("Check your phone", None, None, csrf, &body)
}

/// The restricted page.
pub fn account(user: &str, flash: Option<&Flash>, csrf: &str) -> String {
    let body = format!(
        r#"<div class="card" id="restricted"><h1>Your accounts</h1><p class="muted">Signed in as <strong>{}</strong> with password + phone.</p>
<div class="muted">Current account</div><div class="balance">€ 12,480.55</div>
<h2>Recent activity</h2><table>
<tr><td>Salary — ACME Corp</td><td class="amt">+ € 3,200.00</td></tr>
<tr><td>Rent</td><td class="amt">− € 1,150.00</td></tr>
<tr><td>Groceries</td><td class="amt">− € 84.37</td></tr></table></div>"#,
        esc(user)
    );
    layout("Account", Some(user), flash, csrf, &body)
}

/// A result page (login refused, expired, …) with a way back.
pub fn message(
    title: &str,
    user: Option<&str>,
    flash: &Flash,
    link: (&str, &str),
    csrf: &str,
) -> String {
    let body = format!(
        r#"<div class="card"><h1>{}</h1><div class="flash {}" id="flash">{}</div>
<a class="button" href="{}" id="again">{}</a></div>"#,
        esc(&flash.title),
        flash.kind,
        esc(&flash.message),
        esc(link.0),
        esc(link.1)
    );
    layout(title, user, None, csrf, &body)
}

/// The QR code of `data` as inline SVG (no XML declaration).
pub fn qr_svg(data: &str) -> String {
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(210, 210)
                .quiet_zone(true)
                .build();
            match svg.find("<svg") {
                Some(i) => svg[i..].to_owned(),
                None => svg,
            }
        }
        Err(_) => String::from("<p class=\"muted\">(QR code unavailable: the URI is too long)</p>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = home(Some("<script>"), None, "tok\"en");
        assert!(page.contains(r#"name="csrf" value="tok&quot;en""#));
        assert!(page.contains("&lt;script&gt;") && !page.contains("<span><script>"));
    }

    #[test]
    fn device_rows_are_escaped_and_removable() {
        let d = DeviceView {
            id: "acc_1".into(),
            name: Some("<b>phone</b>".into()),
            platform: PushPlatform::Fcm,
            created_at: 0,
            last_used_at: None,
            key_protection: KeyProtection::Hardware,
        };
        let page = devices("alice", Ok(&[d]), None, "tok");
        assert!(page.contains("&lt;b&gt;phone&lt;/b&gt;") && !page.contains("<b>phone"));
        assert!(page.contains(r#"name="device" value="acc_1""#) && page.contains("Never"));
        assert!(page.contains("Hardware (secure element)") && !page.contains("remove-old-hint"));
        assert!(devices("alice", Ok(&[]), None, "tok").contains("no-devices"));
        assert!(devices("alice", Err("down"), None, "tok").contains("devices-error"));
    }

    #[test]
    fn qr_is_inline_svg() {
        let svg = qr_svg("tapprove://pair?server=http%3A%2F%2F127.0.0.1%3A8080&user=alice");
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
    }
}
