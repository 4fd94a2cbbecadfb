//! The core's own URL parser (`core/src/address.rs`, every service URL and the server in a
//! pairing link) against the `url` crate it replaced: whatever it accepts, `url` accepts and
//! reads the same way (one known difference: `url` also decodes `xn--` labels). Its form query
//! decoding and encoding agree with `url::form_urlencoded` too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_core::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(ours) = fuzzing::parse_url(text) {
        match url::Url::parse(text) {
            Ok(theirs) => {
                assert_eq!(theirs.scheme(), if ours.tls { "https" } else { "http" });
                assert_eq!(theirs.host_str(), Some(ours.host.as_str()), "{text:?}");
                assert_eq!(theirs.port(), ours.port, "{text:?}");
                assert_eq!(theirs.path(), ours.path, "{text:?}");
                assert_eq!(theirs.query(), ours.query.as_deref(), "{text:?}");
                assert_eq!(theirs.origin().ascii_serialization(), ours.origin, "{text:?}");
            }
            Err(url::ParseError::IdnaError)
                if ours.host.split('.').any(|l| l.starts_with("xn--")) => {}
            Err(e) => panic!("accepted by the core, refused by url ({e}): {text:?}"),
        }
    }
    if let Some(ours) = fuzzing::form_pairs(text) {
        let theirs: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(ours, theirs, "{text:?}");
    }
    let (name, value) = text.split_once('\n').unwrap_or((text, ""));
    let ours = fuzzing::form_pair(name, value);
    let theirs = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish();
    assert_eq!(ours, theirs);
});
