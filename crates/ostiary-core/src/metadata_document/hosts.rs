//! The operator's allow-list of hosts whose URLs may be client ids
//! (`OAUTH2_CLIENT_METADATA_HOSTS`): exact host names, or `*.example.com` for subdomains.

use std::str::FromStr;

use url::{Host, Url};

use crate::validation::InvalidInput;

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// This host only (a name, an IPv4 literal or a bracketed IPv6 literal).
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com` (at any depth), never
    /// `example.com` itself. Kept with its leading dot.
    Subdomains(String),
}

/// Hosts whose metadata documents the server may fetch; empty (the default) turns client ID
/// metadata documents off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAllowList(Vec<Pattern>);

impl HostAllowList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the host of `url` is allowed. Names compare as the URL parser wrote them
    /// (lower case, punycode); a pattern never matches an IP literal.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host() else {
            return false;
        };
        let written = match &host {
            Host::Domain(d) => (*d).to_owned(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => format!("[{ip}]"),
        };
        self.0.iter().any(|pattern| match pattern {
            Pattern::Exact(exact) => *exact == written,
            Pattern::Subdomains(suffix) => {
                matches!(host, Host::Domain(_))
                    && written.len() > suffix.len()
                    && written.ends_with(suffix.as_str())
            }
        })
    }

    /// The entries as configured (patterns with their `*`).
    pub fn entries(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|p| match p {
                Pattern::Exact(host) => host.clone(),
                Pattern::Subdomains(suffix) => format!("*{suffix}"),
            })
            .collect()
    }

    /// Patterns so wide that anyone can likely serve a document under them: a `*` over a
    /// single label (`*.com`, `*.dev`), where whoever registers a domain gets in.
    pub fn broad_patterns(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|p| match p {
                Pattern::Subdomains(suffix) if suffix.matches('.').count() < 2 => {
                    Some(format!("*{suffix}"))
                }
                _ => None,
            })
            .collect()
    }
}

impl FromStr for HostAllowList {
    type Err = InvalidInput;

    /// Comma- or space-separated entries; host names are compared in lower case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split([',', ' '])
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_entry)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

fn parse_entry(entry: &str) -> Result<Pattern, InvalidInput> {
    let invalid = || {
        InvalidInput::new(
            "client_metadata_hosts",
            format!(
                "{entry:?}: list host names (app.example.com), IP literals or *.example.com \
                 patterns; no scheme, port, path or bare *"
            ),
        )
    };
    let entry = entry.to_ascii_lowercase();
    if let Some(suffix) = entry.strip_prefix("*.") {
        return if is_dns_name(suffix) {
            Ok(Pattern::Subdomains(format!(".{suffix}")))
        } else {
            Err(invalid())
        };
    }
    if is_dns_name(&entry) || entry.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(Pattern::Exact(entry));
    }
    match entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .map(str::parse::<std::net::Ipv6Addr>)
    {
        // Written back as the URL parser writes it, so it compares equal.
        Some(Ok(ip)) => Ok(Pattern::Exact(format!("[{ip}]"))),
        _ => Err(invalid()),
    }
}

/// Letters, digits and hyphens in dot-separated labels of 1 to 63 characters, none starting
/// or ending with a hyphen, not all digits at the end (that would be an IPv4 address).
fn is_dns_name(name: &str) -> bool {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    name.len() <= 253
        && name.split('.').all(label_ok)
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> HostAllowList {
        s.parse().unwrap()
    }

    fn allows(list: &HostAllowList, url: &str) -> bool {
        list.allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn exact_hosts_match_only_themselves() {
        let hosts = list("app.example.com, Tools.Example.org");
        assert!(allows(&hosts, "https://app.example.com/c"));
        assert!(allows(&hosts, "https://app.example.com:8443/c"));
        assert!(allows(&hosts, "https://tools.example.org/c"));
        for other in [
            "https://example.com/c",
            "https://evil.app.example.com/c",
            "https://app.example.com.evil.net/c",
            "https://appexample.com/c",
            "https://app.example.co/c",
        ] {
            assert!(!allows(&hosts, other), "{other}");
        }
    }

    #[test]
    fn patterns_match_subdomains_only() {
        let hosts = list("*.example.com");
        assert!(allows(&hosts, "https://app.example.com/c"));
        assert!(allows(&hosts, "https://a.b.example.com/c"));
        for other in [
            "https://example.com/c",
            "https://badexample.com/c",
            "https://example.com.evil.net/c",
            "https://app.example.org/c",
        ] {
            assert!(!allows(&hosts, other), "{other}");
        }
    }

    #[test]
    fn ip_literals_match_exactly_and_never_by_pattern() {
        let hosts = list("127.0.0.1 [::1]");
        assert!(allows(&hosts, "http://127.0.0.1:4000/c"));
        assert!(allows(&hosts, "http://[::1]:4000/c"));
        assert!(!allows(&hosts, "http://127.0.0.2/c"));
        assert!(!allows(&hosts, "http://localhost/c"));
        let expanded = list("[0:0:0:0:0:0:0:1]");
        assert!(allows(&expanded, "http://[::1]/c"));
        // A pattern over digits would read as an address range: refused.
        assert!("*.0.1".parse::<HostAllowList>().is_err());
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        let hosts = list(" , ");
        assert!(hosts.is_empty());
        assert!(!allows(&hosts, "https://app.example.com/c"));
        assert!(HostAllowList::default().is_empty());
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "*",
            "*.",
            "*example.com",
            "a.*.example.com",
            "https://app.example.com",
            "app.example.com/c",
            "app.example.com:443",
            "-app.example.com",
            "app..example.com",
            "app_1.example.com",
            "[::1",
            "[not-ip]",
            "1.2.3.4.5",
            "é.example.com",
        ] {
            assert!(bad.parse::<HostAllowList>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn single_label_patterns_are_broad() {
        let hosts = list("*.com *.example.com app.example.org *.dev");
        assert_eq!(hosts.broad_patterns(), ["*.com", "*.dev"]);
        assert_eq!(
            hosts.entries(),
            ["*.com", "*.example.com", "app.example.org", "*.dev"]
        );
    }
}
