//! Pairing codes: 8 Crockford base32 characters (40 bits), shown as `XXXX-XXXX`.

use ring::rand::{SecureRandom, SystemRandom};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Length of a pairing code without the dash.
pub const CODE_LEN: usize = 8;

/// A fresh random pairing code in canonical form (8 characters, no dash).
pub fn generate(rng: &SystemRandom) -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 5];
    rng.fill(&mut bytes)?;
    let mut bits: u64 = 0;
    for b in bytes {
        bits = (bits << 8) | u64::from(b);
    }
    let code = (0..CODE_LEN)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
        .collect();
    Ok(code)
}

/// Canonical form of what a user typed: upper case, dashes and spaces dropped, and Crockford's
/// look-alikes mapped (`O`→`0`, `I`/`L`→`1`). `None` unless it is exactly 8 valid characters.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_LEN);
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
    (out.len() == CODE_LEN).then_some(out)
}

/// Display form `XXXX-XXXX` of a canonical code.
pub fn display(code: &str) -> String {
    if code.len() == CODE_LEN && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
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
}
