//! The one rule for free text that reaches a user's screen from someone else (login context):
//! no control, bidi or invisible characters, whitespace collapsed to single spaces.
//!
//! Why: a relying party forwards what the browser sent (its `User-Agent`, for one), so these
//! strings are the attacker's words. Bidi overrides reorder what the user reads, zero-width and
//! format characters hide text, and control characters drive terminals.

/// Returns `text` with every control, format (bidi, zero-width, tag), separator and other
/// invisible character removed, runs of whitespace collapsed to one ASCII space and the ends
/// trimmed. Idempotent: `sanitize(&sanitize(s)) == sanitize(s)`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || is_line_control(c) {
            pending_space = true;
        } else if is_hidden(c) {
            // Dropped without a space: a zero-width joiner inside a word must not split it.
        } else {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        }
    }
    out
}

/// Whether `text` is already what [`sanitize`] would make of it.
pub fn is_sanitized(text: &str) -> bool {
    sanitize(text) == text
}

/// Controls that separate words (a newline must not glue two words together).
fn is_line_control(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | '\u{85}')
}

/// Characters that show nothing (or reorder what is shown): C0/C1 controls, Unicode format
/// characters (category Cf, which holds the bidi controls, zero-width characters and tags),
/// and the invisible letters and selectors that are not Cf.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            // Cf, Unicode 15.1.
            0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
            // Invisible but not Cf: combining grapheme joiner, Hangul fillers, braille blank,
            // variation selectors, noncharacters and private use.
            | 0x034F
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x2800
            | 0x3164
            | 0xFFA0
            | 0xFE00..=0xFE0F
            | 0xE0100..=0xE01EF
            | 0xFDD0..=0xFDEF
            | 0xE000..=0xF8FF
            | 0xF0000..=0x10FFFF
        )
        || (c as u32 & 0xFFFE) == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_bidi_zero_width_and_controls() {
        assert_eq!(sanitize("Fire\u{202E}xof"), "Firexof");
        assert_eq!(sanitize("a\u{200B}b\u{2066}c\u{2069}"), "abc");
        assert_eq!(sanitize("\u{1b}[31mred\u{1b}[0m"), "[31mred[0m");
        assert_eq!(sanitize("tag\u{E0041}\u{E007F}s"), "tags");
        assert_eq!(sanitize("\u{feff}bom"), "bom");
    }

    #[test]
    fn collapses_whitespace_and_line_breaks() {
        assert_eq!(
            sanitize("  Type\n\n482913\tto\u{2028}block  "),
            "Type 482913 to block"
        );
        assert_eq!(sanitize("a\u{00A0}\u{3000}b"), "a b");
        assert_eq!(sanitize("\u{200B} \u{200B}"), "");
    }

    #[test]
    fn keeps_ordinary_text_of_any_script() {
        for s in [
            "Lyon, FR",
            "東京, JP",
            "Zürich",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "🦀 app",
        ] {
            assert_eq!(sanitize(s), s);
            assert!(is_sanitized(s));
        }
    }

    #[test]
    fn is_idempotent() {
        let s = " a\u{202E}\n b \u{200D} c\u{1b}";
        assert_eq!(sanitize(&sanitize(s)), sanitize(s));
    }
}
