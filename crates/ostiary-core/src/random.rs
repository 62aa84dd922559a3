//! Randomness for credentials: always the operating system's CSPRNG, never a seeded PRNG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};

/// `N` bytes straight from the OS CSPRNG.
///
/// The OS generator failing is not a condition a credential issuer can work around: failing
/// closed (a panic in this one place) is safer than ever handing out a predictable value.
pub fn os_random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.unwrap_err().fill_bytes(&mut bytes);
    bytes
}

/// `N` random bytes rendered as unpadded base64url, safe in URLs, headers and forms.
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(os_random_bytes::<N>())
}
