//! Client identifiers: short, URL- and header-safe, generated when not chosen.

use std::str::FromStr;

use crate::random::random_token;
use crate::validation::InvalidInput;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_LEN: usize = 128;

    /// RFC 3986 unreserved characters only: no `:` (it would break HTTP Basic credentials),
    /// nothing that needs escaping in a URL or form.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(
                "client_id",
                format!("must be 1 to {} characters long", Self::MAX_LEN),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(InvalidInput::new(
                "client_id",
                "may contain only letters, digits and - . _ ~",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// 128 random bits, base64url (22 characters).
    pub fn generate() -> Self {
        Self(random_token::<16>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClientId {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unreserved_characters() {
        assert!(ClientId::parse("my-app_1.0~x").is_ok());
    }

    #[test]
    fn refuses_empty_long_and_unsafe_ids() {
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse(&"a".repeat(129)).is_err());
        for bad in ["a:b", "a b", "a/b", "é", "a%20", "a\n"] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = ClientId::generate();
        assert!(ClientId::parse(a.as_str()).is_ok());
        assert_ne!(a, ClientId::generate());
    }
}
