//! The codes people type: pairing codes (8 Crockford base32 characters, 40 bits, shown as
//! `XXXX-XXXX`) and recovery codes (16 characters, 80 bits, `XXXX-XXXX-XXXX-XXXX`).

use ring::rand::{SecureRandom, SystemRandom};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Length of a pairing code without the dash.
pub const CODE_LEN: usize = 8;
/// Length of a recovery code without the dashes: 80 bits, beyond guessing even online.
pub const RECOVERY_LEN: usize = 16;

/// A fresh random pairing code in canonical form (8 characters, no dash).
pub fn generate(rng: &SystemRandom) -> Result<String, ring::error::Unspecified> {
    random_chars(rng, CODE_LEN)
}

/// A fresh random recovery code in canonical form (16 characters, no dashes).
pub fn generate_recovery(rng: &SystemRandom) -> Result<String, ring::error::Unspecified> {
    random_chars(rng, RECOVERY_LEN)
}

fn random_chars(rng: &SystemRandom, len: usize) -> Result<String, ring::error::Unspecified> {
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes)?;
    // 256 is a multiple of 32: the low five bits of a random byte are uniform.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect())
}

/// Canonical form of what a user typed: upper case, dashes and spaces dropped, and Crockford's
/// look-alikes mapped (`O`→`0`, `I`/`L`→`1`). `None` unless it is exactly 8 valid characters.
pub fn normalize(input: &str) -> Option<String> {
    normalize_len(input, CODE_LEN)
}

/// The same for a recovery code (16 characters).
pub fn normalize_recovery(input: &str) -> Option<String> {
    normalize_len(input, RECOVERY_LEN)
}

fn normalize_len(input: &str, len: usize) -> Option<String> {
    let mut out = String::with_capacity(len);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == len).then_some(out)
}

/// Display form of a canonical code: groups of four joined by dashes (`XXXX-XXXX`).
pub fn display(code: &str) -> String {
    if !code.is_ascii() {
        return code.to_owned();
    }
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_canonical_and_differ() {
        let rng = SystemRandom::new();
        let a = generate(&rng).expect("rng");
        let b = generate(&rng).expect("rng");
        assert_eq!(a.len(), 8);
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        assert_ne!(a, b, "40 random bits collided");
    }

    #[test]
    fn normalize_accepts_typing_variants_and_rejects_garbage() {
        assert_eq!(normalize("7kq2-m9xd").as_deref(), Some("7KQ2M9XD"));
        assert_eq!(normalize("7KQ2 M9XD").as_deref(), Some("7KQ2M9XD"));
        assert_eq!(normalize("OIL0-1111").as_deref(), Some("01101111"));
        assert_eq!(normalize("7KQ2-M9X"), None);
        assert_eq!(normalize("7KQ2-M9XDD"), None);
        assert_eq!(normalize("7KQ2-M9XU"), None, "U is not Crockford");
        assert_eq!(normalize("7KQ2-M9É1"), None);
        assert_eq!(display("7KQ2M9XD"), "7KQ2-M9XD");
    }

    #[test]
    fn recovery_codes_are_sixteen_characters_in_four_groups() {
        let rng = SystemRandom::new();
        let r = generate_recovery(&rng).expect("rng");
        assert_eq!(r.len(), RECOVERY_LEN);
        let shown = display(&r);
        assert_eq!(shown.len(), 19);
        assert_eq!(
            normalize_recovery(&shown.to_lowercase()).as_deref(),
            Some(r.as_str())
        );
        assert_eq!(
            normalize_recovery(&r[..8]),
            None,
            "a pairing code is no recovery code"
        );
        assert_eq!(normalize(&r), None);
    }
}
