//! Scope tokens (RFC 6749 section 3.3).

use std::str::FromStr;

use crate::validation::InvalidInput;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    pub const MAX_LEN: usize = 128;

    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII without space, `"`, `\`.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(
                "scope",
                format!("must be 1 to {} characters long", Self::MAX_LEN),
            ));
        }
        if !s
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        {
            return Err(InvalidInput::new(
                "scope",
                format!("{s:?} has characters RFC 6749 3.3 does not allow in a scope token"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Scope {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc_scope_tokens() {
        for ok in ["openid", "read:orders", "https://api.example.com/x", "a"] {
            assert!(Scope::parse(ok).is_ok(), "{ok:?} refused");
        }
    }

    #[test]
    fn refuses_spaces_quotes_backslashes_and_non_ascii() {
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
