//! Which resolved addresses a metadata document may be fetched from: public unicast only, so
//! a client id cannot make the server reach into its own network (request forgery).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether the server may connect to `ip` to fetch a metadata document: a globally routed
/// unicast address. Refused: unspecified, loopback, private (RFC 1918), shared (CGNAT, RFC
/// 6598), link-local, unique-local and site-local, multicast and broadcast, reserved,
/// benchmarking and documentation ranges, the IETF protocol block, and the v6 forms that
/// carry a v4 address (mapped, NAT64, 6to4, Teredo) unless what they carry is public.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Whether `ip` is a loopback address (127/8, `::1`, or 127/8 mapped into v6): the only
/// addresses a plain-http loopback document may be fetched from, in development.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", 0.0.0.0 included
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT shared space
        || (a == 169 && b == 254) // link-local (cloud metadata services live here)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // ::ffff:a.b.c.d and the NAT64 well-known prefix 64:ff9b::/96 reach the v4 address they
    // carry: judged as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    // Global unicast is 2000::/3; everything else (::, ::1, the deprecated v4-compatible
    // ::/96, 64:ff9b:1::/48 local NAT64, 100::/64 discard, fc00::/7, fe80::/10, fec0::/10,
    // ff00::/8) is refused.
    if segments[0] & 0xe000 != 0x2000 {
        return false;
    }
    let refused = match segments[0] {
        // The IETF protocol block 2001::/23 (Teredo included), documentation 2001:db8::/32.
        0x2001 => segments[1] < 0x0200 || segments[1] == 0x0db8,
        // 6to4: tunnels to whatever v4 address it embeds.
        0x2002 => true,
        // Documentation (RFC 9637).
        0x3fff => segments[1] < 0x1000,
        _ => false,
    };
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_allowed() {
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
        ] {
            assert!(is_public(ip(good)), "{good} refused");
        }
    }

    #[test]
    fn private_and_special_v4_ranges_are_refused() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip(bad)), "{bad} allowed");
        }
    }

    #[test]
    fn private_and_special_v6_forms_are_refused() {
        for bad in [
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::ffff:100.64.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::c0a8:101",
            "64:ff9b:1::1",
            "100::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "2002:c0a8:101::1",
            "2002:5db8:d822::1",
            "3fff::1",
            "4000::1",
        ] {
            assert!(!is_public(ip(bad)), "{bad} allowed");
        }
    }

    #[test]
    fn loopback_means_loopback_only() {
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip(lo)), "{lo}");
        }
        for other in [
            "10.0.0.1",
            "169.254.169.254",
            "::",
            "fe80::1",
            "93.184.216.34",
        ] {
            assert!(!is_loopback(ip(other)), "{other}");
        }
    }
}
