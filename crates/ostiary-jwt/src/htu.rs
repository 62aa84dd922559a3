//! Whether a DPoP proof's `htu` names the URI of the request it came with (RFC 9449 4.3):
//! compared without query and fragment, after RFC 3986's syntax-based (6.2.2) and
//! scheme-based (6.2.3) normalization, as the RFC asks so that a client spelling the same URI
//! differently (`HTTPS://Host:443/%74oken`) is not refused.

/// Whether `htu` and `uri` are the same `http`/`https` URI once query, fragment and
/// spelling differences are set aside. Anything that is not an absolute `http` or `https`
/// URI with a host matches nothing but its exact self.
pub(crate) fn same_resource(htu: &str, uri: &str) -> bool {
    let (htu, uri) = (without_query(htu), without_query(uri));
    htu == uri || normalized(htu).is_some_and(|n| Some(n) == normalized(uri))
}

fn without_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// `scheme://host[:port]path` with the scheme and host in lower case, the scheme's default
/// port and dot segments removed, an empty path as `/`, and percent-encodings of unreserved
/// characters decoded (others with upper-case hex digits); `None` for anything else,
/// including user information and malformed percent-encodings.
fn normalized(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port: u16 = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    // One bracketed IPv6 literal, or a name or IPv4 address without a colon or bracket.
    let well_formed = match host.strip_prefix('[') {
        Some(literal) => literal
            .strip_suffix(']')
            .is_some_and(|inner| !inner.contains(['[', ']'])),
        None => !host.is_empty() && !host.contains([':', '[', ']']),
    };
    // An empty port is the default one (RFC 3986 6.2.3); any other must be a port number.
    let port = match port.filter(|p| !p.is_empty()) {
        None => default_port,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    if !well_formed {
        return None;
    }
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if port != default_port {
        out.push_str(&format!(":{port}"));
    }
    let path = decoded_unreserved(path)?;
    out.push_str(&without_dot_segments(if path.is_empty() {
        "/"
    } else {
        &path
    }));
    Some(out)
}

/// RFC 3986 6.2.2.1 and 6.2.2.2: `%XX` of an unreserved character becomes the character,
/// any other keeps its encoding with upper-case hex digits. `None` for a `%` not followed by
/// two hex digits.
fn decoded_unreserved(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 1..at + 3)?;
        let byte = u8::from_str_radix(hex, 16)
            .ok()
            .filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit()))?;
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push_str(&hex.to_ascii_uppercase());
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// RFC 3986 5.2.4 on an absolute path: `.` segments go, `..` takes the one before it.
fn without_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    segments.pop();
                }
                // A path ending in a dot segment still ends in a slash.
                if last {
                    segments.push("");
                }
            }
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::same_resource;

    const TOKEN: &str = "https://id.example.com/token";

    #[test]
    fn spellings_of_the_same_uri_match() {
        for htu in [
            TOKEN,
            "https://id.example.com/token?x=1#f",
            "HTTPS://ID.Example.COM/token",
            "https://id.example.com:443/token",
            "https://id.example.com/%74oken",
            "https://id.example.com/%74%6F%6b%65%6E",
            "https://id.example.com/./token",
            "https://id.example.com/a/../token",
        ] {
            assert!(same_resource(htu, TOKEN), "{htu}");
        }
        assert!(same_resource("http://127.0.0.1", "http://127.0.0.1:80/"));
        assert!(same_resource("http://127.0.0.1:/", "http://127.0.0.1/"));
        assert!(same_resource("https://id.example.com:0443/token", TOKEN));
        assert!(same_resource(
            "http://[::1]:8080/a%2fb",
            "http://[::1]:8080/a%2Fb"
        ));
    }

    #[test]
    fn other_uris_do_not() {
        for htu in [
            "https://id.example.com/revoke",
            "http://id.example.com/token",
            "https://id.example.com:8443/token",
            "https://id.example.com:0/token",
            "https://id.example.com:000/token",
            "https://id.example.com:65979/token",
            "https://id.example.com:+443/token",
            "https://id.example.com:443:443/token",
            "https://id.example.com:443:/token",
            "https://[id.example.com/token",
            "https://other.example.com/token",
            "https://id.example.com/token/",
            "https://id.example.com/Token",
            // An encoded slash is not a slash.
            "https://id.example.com/a%2F..%2Ftoken",
            "https://user@id.example.com/token",
            "https://id.example.com/%7token",
            "https://id.example.com/%zztoken",
            "ftp://id.example.com/token",
            "id.example.com/token",
            "",
        ] {
            assert!(!same_resource(htu, TOKEN), "{htu}");
        }
        assert!(!same_resource(
            "https://id.example.com/a/b",
            "https://id.example.com/a%2Fb"
        ));
        // A colon in the host is no port of the server's URL.
        assert!(!same_resource(
            "http://127.0.0.1:8080:80/token",
            "http://127.0.0.1:8080/token"
        ));
        assert!(!same_resource(
            "http://127.0.0.1:8080:/token",
            "http://127.0.0.1:8080/token"
        ));
    }
}
