//! RFC 9068 access tokens: header `typ: at+jwt` and `kid`; claims `iss`, `sub`, `aud`, `exp`,
//! `iat`, `nbf`, `jti`, `client_id`, `scope`.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: Audiences<'a>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// One audience as a string, several as an array (RFC 7519 4.1.3).
#[derive(Debug)]
pub struct Audiences<'a>(pub &'a [String]);

impl Serialize for Audiences<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

/// 128 random bits: unique per token, the handle revocation uses. An identifier, not a
/// credential, so it comes from the thread-local CSPRNG (ChaCha, seeded and reseeded from the
/// OS) rather than a system call per token.
pub fn new_jti() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
