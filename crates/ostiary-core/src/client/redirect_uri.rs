//! Redirect URIs: validated once at registration, then matched byte for byte.
//!
//! The registered string is kept exactly as given (no normalisation), because authorization
//! requests are compared to it exactly (RFC 9700 section 4.1.3).

use std::net::IpAddr;

use url::{Host, Url};

use crate::validation::{InvalidInput, has_control_chars};

/// What a deployment allows beyond https and loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UriPolicy {
    /// Plain http to any host; on only in development.
    pub allow_insecure_http: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    raw: String,
    /// For `http` on a loopback IP literal written canonically: where the host ends and the
    /// path begins in `raw`, so the port in between may vary (RFC 8252 7.3).
    loopback: Option<LoopbackParts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoopbackParts {
    host_end: usize,
    path_start: usize,
}

impl RedirectUri {
    pub const MAX_LEN: usize = 2000;

    pub fn parse(s: &str, policy: UriPolicy) -> Result<Self, InvalidInput> {
        let invalid = |reason: &str| InvalidInput::new("redirect_uri", format!("{s:?}: {reason}"));
        if s.len() > Self::MAX_LEN {
            return Err(invalid("is too long"));
        }
        if has_control_chars(s) || s.contains(' ') {
            return Err(invalid("contains whitespace or control characters"));
        }
        if s.contains('#') {
            return Err(invalid("must not contain a fragment (RFC 6749 3.1.2)"));
        }
        let url = Url::parse(s).map_err(|e| invalid(&format!("is not an absolute URI ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain credentials"));
        }
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http"
                if is_loopback_ip(&url) || (policy.allow_insecure_http && url.host().is_some()) => {
            }
            "http" => {
                return Err(invalid(
                    "plain http is allowed only for loopback IP literals (127.0.0.1, [::1]) \
                     outside development",
                ));
            }
            "https" => return Err(invalid("has no host")),
            // RFC 8252 7.1: native apps use a private-use scheme in reverse domain notation.
            // Requiring the dot also keeps out javascript:, data:, file: and the like.
            scheme if scheme.contains('.') => {}
            scheme => {
                return Err(invalid(&format!(
                    "scheme {scheme:?} is not allowed; use https, http on loopback, or a \
                     reverse-domain private-use scheme such as com.example.app"
                )));
            }
        }
        Ok(Self {
            raw: s.to_owned(),
            loopback: loopback_parts(s),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `http` on a loopback IP literal, where RFC 8252 7.3 lets the port vary.
    pub fn is_loopback(&self) -> bool {
        self.loopback.is_some()
    }
}

impl RedirectUri {
    /// Whether an authorization request's `redirect_uri` names this one: byte for byte, or
    /// for a loopback registration byte for byte apart from the port (RFC 8252 7.3 and 8.4,
    /// RFC 9700 4.1.3). Nothing is normalised: `127.1`, `HTTP:`, `/x/../cb` or `%2e` are
    /// other URIs, whatever a URL parser would make of them.
    pub fn matches(&self, presented: &str) -> bool {
        if presented == self.raw {
            return true;
        }
        let Some(LoopbackParts {
            host_end,
            path_start,
        }) = self.loopback
        else {
            return false;
        };
        let Some(after_host) = presented.strip_prefix(&self.raw[..host_end]) else {
            return false;
        };
        let after_port = match after_host.strip_prefix(':') {
            Some(port_and_rest) => {
                let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
                let port_ok = (1..=5).contains(&digits)
                    && port_and_rest[..digits]
                        .parse::<u16>()
                        .is_ok_and(|port| port != 0);
                if !port_ok {
                    return false;
                }
                &port_and_rest[digits..]
            }
            None => after_host,
        };
        after_port == &self.raw[path_start..]
    }
}

/// Where host and path are in `raw` when it is `http://` on a loopback IP literal written as
/// a strict parser reads it (`127.0.0.1`, `[::1]`; not `127.1` or `0x7f.0.0.1`, which only
/// ever match exactly).
fn loopback_parts(raw: &str) -> Option<LoopbackParts> {
    let authority_start = "http://".len();
    let rest = raw.strip_prefix("http://")?;
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let close = v6.find(']')?;
            let ip: std::net::Ipv6Addr = v6[..close].parse().ok()?;
            if !ip.is_loopback() {
                return None;
            }
            authority.split_at(close + 2)
        }
        None => {
            let host_len = authority.find(':').unwrap_or(authority.len());
            let ip: std::net::Ipv4Addr = authority[..host_len].parse().ok()?;
            if !ip.is_loopback() {
                return None;
            }
            authority.split_at(host_len)
        }
    };
    if !(port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    Some(LoopbackParts {
        host_end: authority_start + host.len(),
        path_start: authority_start + authority_len,
    })
}

fn is_loopback_ip(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            _ => false,
        }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UriPolicy = UriPolicy {
        allow_insecure_http: false,
    };
    const DEV: UriPolicy = UriPolicy {
        allow_insecure_http: true,
    };

    #[test]
    fn matching_is_exact_except_the_loopback_port() {
        let web = RedirectUri::parse("https://app.example.com/cb", STRICT).unwrap();
        assert!(web.matches("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/cb#",
        ] {
            assert!(!web.matches(other), "{other} matched");
        }
        let native = RedirectUri::parse("http://127.0.0.1/cb", STRICT).unwrap();
        assert!(native.matches("http://127.0.0.1:51234/cb"));
        assert!(!native.matches("http://127.0.0.1:51234/other"));
        assert!(!native.matches("http://localhost:51234/cb"));
        assert!(!native.matches("https://127.0.0.1:51234/cb"));
        let v6 = RedirectUri::parse("http://[::1]:8080/cb?a=b", STRICT).unwrap();
        assert!(v6.matches("http://[::1]:9/cb?a=b"));
        assert!(!v6.matches("http://[::1]:9/cb?a=c"));
    }

    #[test]
    fn loopback_matching_does_not_normalise() {
        let native = RedirectUri::parse("http://127.0.0.1/cb", STRICT).unwrap();
        assert!(native.matches("http://127.0.0.1/cb"));
        assert!(native.matches("http://127.0.0.1:5000/cb"));
        for other in [
            "http://127.1:5000/cb",
            "http://2130706433:5000/cb",
            "http://0x7f.0.0.1:5000/cb",
            "HTTP://127.0.0.1:5000/cb",
            "http://127.0.0.1:5000/x/../cb",
            "http://127.0.0.1:5000/%2e/cb",
            "http://127.0.0.1:5000/cb/",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:+80/cb",
            "http://127.0.0.1:5000:5000/cb",
            "http://127.0.0.1.:5000/cb",
            "http://127.0.0.10:5000/cb",
        ] {
            assert!(!native.matches(other), "{other} matched");
        }
        // A loopback host written in a shorthand form is matched exactly, never by the port rule.
        let short = RedirectUri::parse("http://127.1/cb", STRICT).unwrap();
        assert!(short.matches("http://127.1/cb"));
        assert!(!short.matches("http://127.1:5000/cb"));
        assert!(!short.matches("http://127.0.0.1:5000/cb"));
        let with_port = RedirectUri::parse("http://127.0.0.1:8400", STRICT).unwrap();
        assert!(with_port.matches("http://127.0.0.1:1234"));
        assert!(!with_port.matches("http://127.0.0.1:1234/"));
    }

    #[test]
    fn keeps_the_string_exactly() {
        let uri = RedirectUri::parse("https://app.example.com", STRICT).unwrap();
        assert_eq!(uri.as_str(), "https://app.example.com");
        assert!(!uri.is_loopback());
    }

    #[test]
    fn accepts_loopback_http_and_native_schemes() {
        assert!(
            RedirectUri::parse("http://127.0.0.1:8400/cb", STRICT)
                .unwrap()
                .is_loopback()
        );
        assert!(
            RedirectUri::parse("http://[::1]/cb", STRICT)
                .unwrap()
                .is_loopback()
        );
        assert!(RedirectUri::parse("com.example.app:/oauth2redirect", STRICT).is_ok());
    }

    #[test]
    fn refuses_fragments_credentials_and_relative_uris() {
        for bad in [
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "https://user:pw@app.example.com/cb",
            "/relative/cb",
            "app.example.com/cb",
            "",
            "https://app.example.com/c b",
        ] {
            assert!(RedirectUri::parse(bad, DEV).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refuses_dangerous_schemes() {
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "myapp:/cb",
        ] {
            assert!(RedirectUri::parse(bad, DEV).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn plain_http_needs_loopback_or_development() {
        assert!(RedirectUri::parse("http://app.example.com/cb", STRICT).is_err());
        assert!(RedirectUri::parse("http://localhost/cb", STRICT).is_err());
        assert!(RedirectUri::parse("http://app.example.com/cb", DEV).is_ok());
    }
}
