//! The user code of a device authorization (RFC 8628 6.1): short enough to type from a TV
//! screen, from an alphabet without look-alike characters, and compared in a normal form so
//! that case, dashes and spaces do not matter.

use secrecy::{ExposeSecret, SecretString};

use crate::random::os_random_bytes;
use crate::secret::SecretHash;

/// RFC 8628 6.1's example alphabet: 20 consonants. No vowels, so no words are spelled by
/// accident; no digits, so nothing is mistaken for a letter (0/O, 1/I).
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters of a code: 20^8, about 2^34.6 codes. Guessing is bounded by the code's
/// 10-minute life and by the failure limits of the verification page, not by its length.
const LENGTH: usize = 8;

/// A user code in its normal form: `LENGTH` characters of `ALPHABET`, shown as `XXXX-XXXX`.
pub struct UserCode(SecretString);

impl UserCode {
    /// A new code from the OS CSPRNG, each character uniform over the alphabet (bytes of 240
    /// and above are drawn again: 240 is the largest multiple of 20 below 256).
    pub fn generate() -> Self {
        let mut code = String::with_capacity(LENGTH);
        while code.len() < LENGTH {
            for byte in os_random_bytes::<16>() {
                if byte < 240 && code.len() < LENGTH {
                    code.push(char::from(ALPHABET[usize::from(byte % 20)]));
                }
            }
        }
        Self(SecretString::from(code))
    }

    /// What a user typed, normalised: ASCII letters upper-cased, dashes and white space
    /// dropped. `None` when what is left is not a code this server could have issued, so a
    /// malformed entry costs no lookup.
    pub fn parse(typed: &str) -> Option<Self> {
        if typed.len() > 64 {
            return None;
        }
        let code: String = typed
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b));
        valid.then(|| Self(SecretString::from(code)))
    }

    /// The code as shown to the user: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let code = self.0.expose_secret();
        format!("{}-{}", &code[..LENGTH / 2], &code[LENGTH / 2..])
    }

    /// The SHA-256 of the normal form: all the store keeps.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.0.expose_secret())
    }
}

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_use_the_alphabet_and_show_as_two_groups() {
        for _ in 0..200 {
            let code = UserCode::generate();
            let shown = code.display();
            assert_eq!(shown.len(), 9, "{shown}");
            assert_eq!(&shown[4..5], "-");
            assert!(
                shown
                    .bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| ALPHABET.contains(&b)),
                "{shown}"
            );
            let typed = UserCode::parse(&shown).expect("what is shown parses");
            assert_eq!(typed.hash(), code.hash());
        }
    }

    #[test]
    fn case_dashes_and_spaces_do_not_matter() {
        let reference = UserCode::parse("BCDF-GHJK").unwrap().hash();
        for typed in ["bcdfghjk", "BcDf GhJk", " bcdf-ghjk ", "B-C-D-F-G-H-J-K"] {
            assert_eq!(UserCode::parse(typed).unwrap().hash(), reference, "{typed}");
        }
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for typed in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ0",
            "BCDF-GHJ\u{212A}",
            &"B".repeat(65),
        ] {
            assert!(UserCode::parse(typed).is_none(), "{typed:?}");
        }
    }
}
