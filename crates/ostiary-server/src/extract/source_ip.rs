//! The address a request came from: the TCP peer, or, when the peer is a configured trusted
//! proxy (`OAUTH2_TRUSTED_PROXIES`), the nearest untrusted address in `Forwarded` (RFC 7239)
//! or `X-Forwarded-For`. Anyone can write those headers; only a trusted proxy's word counts,
//! and only as far back as the chain stays trusted.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub struct SourceIp(pub Option<IpAddr>);

impl SourceIp {
    pub fn to_text(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for SourceIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer.map(|peer| {
            client_address(peer, &parts.headers, &state.config.proxies)
        })))
    }
}

/// Which header the trusted proxies write (`OAUTH2_FORWARDED_HEADER`). Exactly one is read:
/// proxies append to one and pass the other through from the client untouched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

fn client_address(peer: IpAddr, headers: &HeaderMap, config: &ProxyConfig) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| config.trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Right to left: each trusted hop appended the address it received from. The first
    // address no trusted proxy owns is the client; what lies to its left was written by the
    // client and is ignored, parseable or not.
    let mut nearest = peer;
    for node in forwarded_nodes(headers, config.header).iter().rev() {
        let Some(ip) = parse_node(node).map(|ip| ip.to_canonical()) else {
            break;
        };
        nearest = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    nearest
}

/// The elements of the chosen header, in order (all its lines joined).
fn forwarded_nodes(headers: &HeaderMap, header: ForwardedHeader) -> Vec<String> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let elements = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    match header {
        ForwardedHeader::XForwardedFor => elements.map(|e| e.trim().to_owned()).collect(),
        ForwardedHeader::Forwarded => elements
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (k, v) = pair.trim().split_once('=')?;
                        k.eq_ignore_ascii_case("for")
                            .then(|| v.trim().trim_matches('"').to_owned())
                    })
                    .unwrap_or_default()
            })
            .collect(),
    }
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// The trusted proxies and the header they write.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    pub trusted: Vec<IpNet>,
    pub header: ForwardedHeader,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn behind(nets: &[&str], header: ForwardedHeader) -> ProxyConfig {
        ProxyConfig {
            trusted: nets.iter().map(|n| n.parse().unwrap()).collect(),
            header,
        }
    }

    #[test]
    fn untrusted_peers_cannot_claim_another_address() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let none = ProxyConfig::default();
        assert_eq!(
            client_address(ip("198.51.100.7"), &h, &none),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_up_to_the_first_untrusted_hop() {
        let xff = behind(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        // 1.2.3.4 was written by the client itself: only 203.0.113.9 is vouched for.
        assert_eq!(client_address(ip("10.0.0.1"), &h, &xff), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "garbage, 203.0.113.9")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &xff), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &xff), ip("10.0.0.1"));
        // An IPv4-mapped peer is the IPv4 address it maps.
        assert_eq!(
            client_address(
                ip("::ffff:10.0.0.1"),
                &headers(&[("x-forwarded-for", "192.0.2.7")]),
                &xff
            ),
            ip("192.0.2.7")
        );
    }

    #[test]
    fn only_the_configured_header_counts() {
        let xff = behind(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers(&[
            ("forwarded", "for=192.0.2.66"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &xff), ip("203.0.113.9"));
        let fwd = behind(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &fwd), ip("192.0.2.66"));
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=https, for="[2001:db8::1]:4711""#,
        )]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &fwd), ip("2001:db8::1"));
    }
}
