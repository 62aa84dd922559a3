//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP) as authenticator apps make
//! them: HMAC-SHA-1, six digits, a 30-second step.

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretBox};
use subtle::ConstantTimeEq;

use crate::random::os_random_bytes;

/// Bytes of a generated secret: 160 bits, RFC 4226 4's recommended length.
pub const SECRET_BYTES: usize = 20;
/// Digits of a code (the `digits` of the key URI).
pub const DIGITS: u32 = 6;
/// Seconds of one time step (RFC 6238 4.1 `X`, the key URI's `period`).
pub const PERIOD_SECONDS: i64 = 30;
/// Steps accepted either side of the current one (RFC 6238 5.2): a code typed just as it
/// changed, or on a phone whose clock is 30 seconds off, still counts.
pub const ALLOWED_DRIFT_STEPS: i64 = 1;

/// A user's TOTP key (RFC 6238 `K`): never logged, shown once at enrolment.
pub struct TotpSecret(SecretBox<[u8; SECRET_BYTES]>);

impl TotpSecret {
    /// A new key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(os_random_bytes::<SECRET_BYTES>())))
    }

    /// A key from its bytes (as unsealed from the store); `None` unless exactly
    /// `SECRET_BYTES` long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key: [u8; SECRET_BYTES] = bytes.try_into().ok()?;
        Some(Self(SecretBox::new(Box::new(key))))
    }

    /// The raw key, to be sealed before it is stored.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// The key as authenticator apps take it typed in: RFC 4648 base32, unpadded.
    pub fn to_base32(&self) -> String {
        base32(self.expose_bytes())
    }

    /// A key from its base32 form (as [`TotpSecret::to_base32`] writes it; case, spaces
    /// and padding ignored); `None` for anything else.
    pub fn from_base32(text: &str) -> Option<Self> {
        let mut bytes = Vec::with_capacity(SECRET_BYTES);
        let mut buffer = 0u32;
        let mut bits = 0u32;
        for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=')) {
            let value = match c.to_ascii_uppercase() {
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'2'..=b'7' => c - b'2' + 26,
                _ => return None,
            };
            buffer = (buffer << 5) | u32::from(value);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.extend(u8::try_from((buffer >> bits) & 0xff).ok());
            }
        }
        Self::from_bytes(&bytes)
    }

    /// The code an app shows at `unix_seconds`, as it shows it (six digits, leading zeros).
    pub fn code_at_time(&self, unix_seconds: i64) -> String {
        let step = u64::try_from(unix_seconds.div_euclid(PERIOD_SECONDS)).unwrap_or(0);
        format!("{:06}", self.code_at(step))
    }

    /// The code of time step `step` (RFC 4226 5.3: dynamic truncation, modulo 10^6).
    fn code_at(&self, step: u64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, self.expose_bytes());
        let mac = hmac::sign(&key, &step.to_be_bytes());
        let mac = mac.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let word = u32::from_be_bytes([
            mac[offset] & 0x7f,
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]);
        word % 10u32.pow(DIGITS)
    }

    /// The time step `code` belongs to, if it is the code of the step of `unix_seconds` or of
    /// one within `ALLOWED_DRIFT_STEPS` of it. Every candidate is computed and compared in
    /// constant time, so timing tells nothing of which step matched, or how closely.
    pub fn matching_step(&self, code: &OneTimeCode, unix_seconds: i64) -> Option<u64> {
        let now = unix_seconds.div_euclid(PERIOD_SECONDS);
        let mut found = None;
        for step in (now - ALLOWED_DRIFT_STEPS)..=(now + ALLOWED_DRIFT_STEPS) {
            let Ok(step) = u64::try_from(step) else {
                continue;
            };
            let equal = self
                .code_at(step)
                .to_be_bytes()
                .ct_eq(&code.0.to_be_bytes());
            if bool::from(equal) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// A code as the user typed it: `DIGITS` ASCII digits, spaces between them ignored (apps
/// show `123 456`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OneTimeCode(u32);

impl OneTimeCode {
    /// `None` for anything but six digits (after dropping spaces).
    pub fn parse(typed: &str) -> Option<Self> {
        let digits = typed.trim().bytes().filter(|b| *b != b' ');
        let mut value = 0u32;
        let mut count = 0u32;
        for b in digits {
            if !b.is_ascii_digit() || count == DIGITS {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
            count += 1;
        }
        (count == DIGITS).then_some(Self(value))
    }
}

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode(..)")
    }
}

/// The key URI authenticator apps import (the `otpauth://totp/` format of Google
/// Authenticator, which every app reads): `issuer` names the server, `account` the user.
pub fn key_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECONDS}",
        percent_encode(issuer),
        percent_encode(account),
        secret.to_base32(),
        percent_encode(issuer),
    )
}

/// Every byte but RFC 3986's unreserved characters as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 4648 6 base32, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 key.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn codes_are_rfc_6238_appendix_b_truncated_to_six_digits() {
        // The appendix's eight-digit values; six digits are the same number modulo 10^6.
        let secret = rfc_secret();
        for (time, eight) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = u64::try_from(time / PERIOD_SECONDS).unwrap();
            assert_eq!(secret.code_at(step), eight % 1_000_000, "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let secret = rfc_secret();
        let code = OneTimeCode::parse("287082").unwrap(); // T = 59, step 1
        assert_eq!(secret.matching_step(&code, 59), Some(1));
        assert_eq!(secret.matching_step(&code, 30), Some(1));
        assert_eq!(secret.matching_step(&code, 0), Some(1), "one step early");
        assert_eq!(secret.matching_step(&code, 89), Some(1), "one step late");
        assert_eq!(secret.matching_step(&code, 90), None, "two steps late");
        let other = OneTimeCode::parse("287083").unwrap();
        assert_eq!(secret.matching_step(&other, 59), None);
    }

    #[test]
    fn only_six_digits_parse() {
        assert!(OneTimeCode::parse("123456").is_some());
        assert!(OneTimeCode::parse(" 123 456 ").is_some());
        assert_eq!(OneTimeCode::parse("000042"), Some(OneTimeCode(42)));
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "１２３４５６",
            "-12345",
            "+123456",
            "12\t3456",
        ] {
            assert!(OneTimeCode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn base32_is_rfc_4648() {
        // RFC 4648 10, without the padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
        }
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(back.expose_bytes(), rfc_secret().expose_bytes());
        assert!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQ").is_none(),
            "too short"
        );
        assert!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1").is_none());
    }

    #[test]
    fn the_code_at_a_time_is_what_an_app_shows() {
        let secret = rfc_secret();
        assert_eq!(secret.code_at_time(59), "287082");
        assert_eq!(
            secret.code_at_time(1_111_111_109),
            "081804",
            "leading zero kept"
        );
        let code = OneTimeCode::parse(&secret.code_at_time(1_234_567_890)).unwrap();
        assert!(secret.matching_step(&code, 1_234_567_890).is_some());
    }

    #[test]
    fn the_key_uri_names_issuer_and_account_encoded() {
        let uri = key_uri(&rfc_secret(), "auth.example.com", "alice smith@x");
        assert_eq!(
            uri,
            "otpauth://totp/auth.example.com:alice%20smith%40x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=auth.example.com&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn generated_secrets_are_160_bit_and_distinct() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        assert_eq!(a.expose_bytes().len(), 20);
        assert_ne!(a.expose_bytes(), b.expose_bytes());
        assert_eq!(format!("{a:?}"), "TotpSecret(..)");
    }
}
