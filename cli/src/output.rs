//! What the CLI prints of data it did not write itself: the one escaping rule for the terminal
//! and the one way times are shown (UTC, through the `time` crate).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `text` safe for an operator's terminal. Service data holds what devices and sites sent (a
/// device name, a user name a phone typed), so control characters (escape sequences,
/// newlines) and the invisible ones that reorder or hide text (bidi controls, zero-width
/// characters) are printed escaped (`\u{1b}`, `\n`, `\u{202e}`), never sent raw.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Format characters that change how the text around them reads without being seen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ` (UTC), for tables.
pub fn utc_time(t: i64) -> String {
    format_unix(
        t,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z"),
    )
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`, for people (the demo's pages).
pub fn utc_minutes(t: i64) -> String {
    format_unix(
        t,
        format_description!("[year]-[month]-[day] [hour]:[minute] UTC"),
    )
}

fn format_unix(t: i64, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(format).ok())
        // Beyond year ±9999: show the number rather than fail a listing.
        .unwrap_or_else(|| format!("@{t}"))
}

/// Unix seconds of an RFC 3339 time (`2026-12-01T09:00:00Z`, `…+02:00`, fractions dropped; a
/// space may stand for the `T`, as RFC 3339 allows).
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an RFC 3339 time like 2026-12-01T09:00:00Z");
    let mut t = text.trim().to_owned();
    if t.as_bytes().get(10) == Some(&b' ') {
        t.replace_range(10..11, "T");
    }
    OffsetDateTime::parse(&t, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_drive_or_fool_the_terminal() {
        assert_eq!(printable("alice"), "alice");
        assert_eq!(printable("Zoë's iPhone"), "Zoë's iPhone");
        assert_eq!(printable("\u{1b}[2Jx\nroot"), "\\u{1b}[2Jx\\nroot");
        assert_eq!(printable("ab\u{202e}cd\u{200b}"), "ab\\u{202e}cd\\u{200b}");
    }

    #[test]
    fn utc_times_both_ways() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc_time(1_800_000_000), "2027-01-15 08:00:00Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc_minutes(951_782_400 + 3599), "2000-02-29 00:59 UTC");
        assert_eq!(utc_minutes(-86_400), "1969-12-31 00:00 UTC");
        assert_eq!(utc_time(i64::MAX), format!("@{}", i64::MAX));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2027-01-15T08:00:00Z"), Ok(1_800_000_000));
        assert_eq!(
            parse_rfc3339("2027-01-15T10:00:00.25+02:00"),
            Ok(1_800_000_000)
        );
        assert_eq!(parse_rfc3339("2000-02-29 00:00:00z"), Ok(951_782_400));
        assert!(parse_rfc3339("2027-01-15T08:00:00").is_err(), "no offset");
        assert!(parse_rfc3339("2027-13-15T08:00:00Z").is_err());
        assert!(parse_rfc3339("2027-02-30T08:00:00Z").is_err());
    }
}
