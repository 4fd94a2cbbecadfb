//! The "Demo Bank" login: one set of values for every test, benchmark and vector.

use serde_json::{Value, json};
use tapprove_protocol::{Challenge, Context, PROTOCOL_VERSION, Presence, PresenceMode};

/// The project's display name.
pub const PROJECT_NAME: &str = "Demo Bank";
/// The user who logs in.
pub const USER: &str = "alice";
/// The pairing code the fake trust webhook accepts.
pub const PAIRING_CODE: &str = "7KQ2-M9XD";
/// The session id of the fixed challenge.
pub const SESSION_ID: &str = "ses_01JDEMO0000000000000000000";
/// The account id of the fixed challenge.
pub const ACCOUNT_ID: &str = "acc_01JDEMO0000000000000000000";
/// The nonce of the fixed challenge.
pub const NONCE: &str = "n0nce-4gJ2kQ9x";
/// The three options of the fixed challenge, and the one the login page shows.
pub const OPTIONS: [&str; 3] = ["17", "42", "88"];
/// The option the login page shows.
pub const PRESENCE_CODE: &str = "42";
/// The IP the login comes from (TEST-NET-3).
pub const IP: &str = "203.0.113.7";

/// The notification title.
pub fn title() -> String {
    format!("Log in to {PROJECT_NAME}?")
}

/// The notification body for `user`.
pub fn body(user: &str) -> String {
    format!("Someone is signing in as {user}.")
}

/// The browser of the fixture's login, which the service reads as Firefox on Linux.
pub const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

/// The login's context: app, IP, place, browser (as the service signs it).
pub fn context() -> Context {
    Context {
        app: Some(PROJECT_NAME.into()),
        ip: Some(IP.into()),
        location: Some("Lyon, FR".into()),
        user_agent: Some(USER_AGENT.into()),
        browser: Some("Firefox".into()),
        os: Some("Linux".into()),
    }
}

/// The challenge the service signs for [`USER`]'s login, issued at `iat`, valid until `exp`
/// (choose mode, [`OPTIONS`]). Change fields with struct update syntax where a test needs to.
pub fn challenge(iat: i64, exp: i64) -> Challenge {
    Challenge {
        user_verification: None,
        ver: PROTOCOL_VERSION,
        session_id: SESSION_ID.into(),
        account_id: ACCOUNT_ID.into(),
        user: USER.into(),
        title: title(),
        body: body(USER),
        context: context(),
        presence: Presence {
            code: None,
            length: None,
            mode: PresenceMode::Choose,
            options: OPTIONS.iter().map(|o| (*o).to_owned()).collect(),
        },
        iat,
        exp,
        nonce: NONCE.into(),
    }
}

/// The APNs payload carrying `token` (the signed `challenge`), as the service sends it.
pub fn apns_payload(challenge: &Challenge, token: &str) -> Value {
    json!({
        "aps": {"alert": {"title": challenge.title, "body": challenge.body},
                "category": "TAPPROVE_LOGIN", "mutable-content": 1},
        "tapprove": token,
    })
}

/// The relying party's `POST /v1/push/sessions` body for `user` (default presence mode).
pub fn create_session_body(user: &str) -> Value {
    let c = context();
    json!({
        "user": user,
        "notification": {"title": title(), "body": body(user)},
        "context": {"app": c.app, "ip": c.ip, "user_agent": c.user_agent},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_is_a_valid_choose_challenge() {
        let c = challenge(100, 220);
        assert!(c.presence.options.iter().any(|o| o == PRESENCE_CODE));
        assert_eq!((c.iat, c.exp, c.user.as_str()), (100, 220, USER));
        use tapprove_protocol::Es256Signer as _;
        let key = tapprove_protocol::SoftwareKey::generate().expect("key");
        let token = c.sign(&key).expect("sign");
        let back = Challenge::verify(&token, &key.public_key(), 150, 60).expect("verifies");
        assert_eq!(back, c);
        let payload = apns_payload(&c, &token);
        assert_eq!(payload["tapprove"], json!(token));
        assert_eq!(
            payload["aps"]["alert"]["title"],
            json!("Log in to Demo Bank?")
        );
    }

    #[test]
    fn create_body_names_the_user() {
        let b = create_session_body("bob");
        assert_eq!(b["user"], json!("bob"));
        assert_eq!(
            b["notification"]["body"],
            json!("Someone is signing in as bob.")
        );
        assert_eq!(b["context"]["ip"], json!(IP));
    }
}
