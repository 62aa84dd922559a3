//! Client identifiers: short, URL- and header-safe, generated when not chosen; or the URL of
//! a client ID metadata document (a client the server fetches instead of registering).

use std::str::FromStr;

use url::{Host, Url};

use crate::random::random_token;
use crate::validation::InvalidInput;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_LEN: usize = 128;
    /// The longest metadata document URL accepted as a client id (the length of the longest
    /// redirect URI too).
    pub const MAX_URL_LEN: usize = 2000;

    /// An id an operator chose or the server generated. RFC 3986 unreserved characters only:
    /// no `:` (it would break HTTP Basic credentials), nothing that needs escaping in a URL
    /// or form. A URL is refused: URLs name metadata documents, and an operator's client with
    /// such an id would stand in for the document's owner.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if looks_like_url(s) {
            return Err(InvalidInput::new(
                "client_id",
                "a URL is reserved for client ID metadata documents, which the server fetches \
                 itself; choose an id of letters, digits and - . _ ~",
            ));
        }
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

    /// The URL of a client ID metadata document as a client id: `https` (plain `http` only
    /// to a loopback host, which the server accepts in development alone), with a path, and
    /// no credentials, query or fragment. It must be written as the URL parser writes it back
    /// (lower-case scheme and host, no dot segments, no default port, minimal escaping), so
    /// one document has exactly one id and the document's `client_id` can be compared byte
    /// for byte. Whether the host may be fetched is the server's policy, not checked here.
    pub fn parse_url(s: &str) -> Result<Self, InvalidInput> {
        let invalid = |reason: &str| InvalidInput::new("client_id", reason.to_owned());
        if s.len() > Self::MAX_URL_LEN {
            return Err(invalid("a metadata document URL is at most 2000 bytes"));
        }
        // Printable ASCII only: the id goes into pages, logs and audit events.
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "a metadata document URL holds printable ASCII only (no spaces)",
            ));
        }
        let url = Url::parse(s).map_err(|_| invalid("is not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            _ => return Err(invalid("a metadata document URL must be https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("a metadata document URL must not hold credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "a metadata document URL must not have a query or a fragment",
            ));
        }
        if url.path() == "/" {
            return Err(invalid(
                "a metadata document URL must have a path (not only the origin)",
            ));
        }
        if url.as_str() != s {
            return Err(invalid(
                "a metadata document URL must be written in its normal form (lower-case host, \
                 no dot segments or default port)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Either kind of id: what the protocol endpoints accept from a request, and how stored
    /// ids are read back.
    pub fn parse_any(s: &str) -> Result<Self, InvalidInput> {
        if looks_like_url(s) {
            Self::parse_url(s)
        } else {
            Self::parse(s)
        }
    }

    /// 128 random bits, base64url (22 characters).
    pub fn generate() -> Self {
        Self(random_token::<16>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the id is the URL of a client ID metadata document. An operator's id has no
    /// `:`, so the scheme alone tells them apart.
    pub fn is_metadata_document(&self) -> bool {
        looks_like_url(&self.0)
    }

    /// The metadata document's URL, for an id that is one.
    pub fn document_url(&self) -> Option<Url> {
        if !self.is_metadata_document() {
            return None;
        }
        Url::parse(&self.0).ok()
    }

    /// The host (with the port, when the URL names one) that serves the client's metadata
    /// document: who vouches for the client, shown to users beside the name it claims.
    pub fn document_host(&self) -> Option<String> {
        let url = self.document_url()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }
}

/// Whether `s` starts like an http(s) URL (case-insensitively, so `HTTPS://` is refused as a
/// URL in the wrong form rather than as an operator's id).
fn looks_like_url(s: &str) -> bool {
    let starts = |prefix: &str| {
        s.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts("https:") || starts("http:")
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
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
        assert!(!a.is_metadata_document());
    }

    #[test]
    fn an_operator_id_is_never_a_url() {
        for url in [
            "https://app.example.com/client.json",
            "HTTPS://app.example.com/client.json",
            "http://127.0.0.1/c",
        ] {
            let err = ClientId::parse(url).unwrap_err();
            assert!(err.reason.contains("metadata documents"), "{url}: {err}");
        }
    }

    #[test]
    fn document_urls_in_normal_form_are_ids() {
        for good in [
            "https://app.example.com/client.json",
            "https://app.example.com:8443/oauth/client",
            "https://app.example.com/a/",
            "http://127.0.0.1:4000/client.json",
            "http://localhost:4000/client.json",
            "http://[::1]:4000/client.json",
        ] {
            let id = ClientId::parse_any(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(id.as_str(), good);
            assert!(id.is_metadata_document());
        }
        let id = ClientId::parse_any("https://app.example.com:8443/c").unwrap();
        assert_eq!(id.document_host().as_deref(), Some("app.example.com:8443"));
        let id = ClientId::parse_any("https://app.example.com/c").unwrap();
        assert_eq!(id.document_host().as_deref(), Some("app.example.com"));
        let plain = ClientId::parse_any("web-app").unwrap();
        assert!(!plain.is_metadata_document());
        assert_eq!(plain.document_host(), None);
    }

    #[test]
    fn document_urls_breaking_a_rule_are_refused() {
        let long = format!("https://app.example.com/{}", "a".repeat(2000));
        for bad in [
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/c?x=1",
            "https://app.example.com/c?",
            "https://app.example.com/c#frag",
            "https://user:pw@app.example.com/c",
            "https://user@app.example.com/c",
            "http://app.example.com/c",
            "http://10.0.0.1/c",
            "ftp://app.example.com/c",
            "https://App.Example.com/c",
            "HTTPS://app.example.com/c",
            "https://app.example.com/a/../c",
            "https://app.example.com/./c",
            "https://app.example.com:443/c",
            "https://app.example.com/a b",
            "https://app.example.com/é",
            "https://app.example.com/c\n",
            "https:///c",
            "https:c",
            long.as_str(),
        ] {
            assert!(ClientId::parse_any(bad).is_err(), "{bad:?} accepted");
        }
        // At the limit is fine.
        let at_limit = format!("https://app.example.com/{}", "a".repeat(2000 - 24));
        assert_eq!(at_limit.len(), 2000);
        assert!(ClientId::parse_any(&at_limit).is_ok());
    }
}
