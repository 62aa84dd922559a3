//! Audiences a client may request tokens for: RFC 8707 resource indicators.

use std::str::FromStr;

use url::Url;

use crate::validation::{InvalidInput, has_control_chars};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience(String);

impl Audience {
    pub const MAX_LEN: usize = 512;

    /// RFC 8707 section 2: an absolute URI without a fragment, kept exactly as given.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let invalid = |reason: &str| InvalidInput::new("audience", format!("{s:?}: {reason}"));
        if s.len() > Self::MAX_LEN || has_control_chars(s) || s.contains(' ') {
            return Err(invalid("is too long or contains whitespace"));
        }
        if s.contains('#') {
            return Err(invalid("must not contain a fragment (RFC 8707 2)"));
        }
        Url::parse(s).map_err(|e| invalid(&format!("is not an absolute URI ({e})")))?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Audience {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_absolute_uris_only() {
        assert!(Audience::parse("https://api.example.com").is_ok());
        assert!(Audience::parse("urn:example:orders").is_ok());
        for bad in ["api", "https://api.example.com/#x", "", "/api"] {
            assert!(Audience::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
