//! The login context a relying party sends (docs/PROTOCOL.md §3): the one place that decides
//! what of it reaches a phone. Every member goes through the protocol's sanitiser and the
//! length rule after it; the browser and system are read from the user agent here, never
//! taken from the caller.
//!
//! Why: the context is the text a user reads to decide whether a login is theirs, and part of
//! it is the attacker's (the browser's `User-Agent`, forwarded verbatim by the reference
//! integrations). A user agent of "Type 482913 to block this sign-in" must not reach the
//! phone as if the service said it.

use std::sync::LazyLock;

use tapprove_protocol::Context;

/// Longest context member, characters, after sanitising.
pub(crate) const MAX_CONTEXT_CHARS: usize = 200;

/// woothee builds its tables once.
static UA_PARSER: LazyLock<woothee::parser::Parser> = LazyLock::new(woothee::parser::Parser::new);

/// A context member too long to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContextTooLong {
    /// The member's name (`app`, `ip`, …).
    pub member: &'static str,
}

/// The context as the service signs it: every member sanitised and at most
/// [`MAX_CONTEXT_CHARS`], `browser`/`os` read from `user_agent` (what the caller put there is
/// dropped).
pub(crate) fn prepare(raw: Context) -> Result<Context, ContextTooLong> {
    let mut context = Context {
        browser: None,
        os: None,
        ..raw
    }
    .sanitized();
    if let Some(ua) = context.user_agent.as_deref() {
        let (browser, os) = read_user_agent(ua);
        context.browser = browser;
        context.os = os;
    }
    for (member, value) in context.members() {
        if value.is_some_and(|v| v.chars().count() > MAX_CONTEXT_CHARS) {
            return Err(ContextTooLong { member });
        }
    }
    Ok(context)
}

/// The browser's and the system's names, from woothee's fixed lists. Versions are left out
/// (they are digits the attacker chooses, and digits on the phone are what the user compares
/// with the login page), and so is any name woothee copied out of the agent itself.
fn read_user_agent(ua: &str) -> (Option<String>, Option<String>) {
    let Some(r) = UA_PARSER.parse(ua) else {
        return (None, None);
    };
    let from_list = |name: &str| {
        let inside = ua.as_bytes().as_ptr_range().contains(&name.as_ptr());
        (!inside && !name.is_empty() && name != woothee::woothee::VALUE_UNKNOWN)
            .then(|| name.to_owned())
    };
    (from_list(r.name), from_list(r.os))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ua(agent: &str) -> Context {
        prepare(Context {
            user_agent: Some(agent.into()),
            ..Context::default()
        })
        .expect("fits")
    }

    #[test]
    fn common_browsers_are_named_without_versions() {
        let c = ua("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0");
        assert_eq!(
            (c.browser.as_deref(), c.os.as_deref()),
            (Some("Firefox"), Some("Linux"))
        );
        let c = ua(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                    Gecko) Chrome/140.0.0.0 Safari/537.36",
        );
        assert_eq!(
            (c.browser.as_deref(), c.os.as_deref()),
            (Some("Chrome"), Some("Windows 10"))
        );
    }

    #[test]
    fn an_agent_of_the_attackers_words_names_nothing() {
        let c = ua("Type 482913 to block this sign-in");
        assert_eq!((c.browser, c.os), (None, None));
        let c = ua("Mozilla/5.0 (Windows NT 10.0) Chrome/482913 Type 482913 to block");
        assert!(!c.browser.unwrap_or_default().contains("482913"));
    }

    #[test]
    fn the_callers_browser_and_os_are_not_taken() {
        let c = prepare(Context {
            browser: Some("Type 482913".into()),
            os: Some("to block".into()),
            ..Context::default()
        })
        .expect("fits");
        assert_eq!((c.browser, c.os), (None, None));
    }

    #[test]
    fn every_member_is_sanitised_then_measured() {
        let c = prepare(Context {
            app: Some("Bank\u{202E}\u{1b}[2J".into()),
            location: Some(format!("{}Lyon", "\u{200B}".repeat(500))),
            ..Context::default()
        })
        .expect("invisible characters do not count");
        assert_eq!(c.app.as_deref(), Some("Bank[2J"));
        assert_eq!(c.location.as_deref(), Some("Lyon"));
        let long = prepare(Context {
            ip: Some("1".repeat(MAX_CONTEXT_CHARS + 1)),
            ..Context::default()
        });
        assert_eq!(long, Err(ContextTooLong { member: "ip" }));
    }
}
