//! What a remote plugin may be reached at: no server-side request forgery by default.
//!
//! A remote plugin's endpoint is an operator's (or an API client's) string, and the host
//! makes the request: without a check, registering `grpc://169.254.169.254:80/latest.meta`
//! would read the cloud metadata service from inside the host's network. Loopback, private,
//! link-local, shared-address and metadata addresses are refused unless an allow pattern
//! (the host-pattern syntax of HTTP grants, e.g. `127.0.0.1:*`) names the endpoint's host or
//! the address it resolved to. The check is made on every resolved address, at call time:
//! a public name that resolves to `127.0.0.1` is refused like `127.0.0.1` itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::caps::grants::HostPattern;

/// Endpoints the operator allows although they resolve to internal addresses.
#[derive(Debug, Clone, Default)]
pub struct AllowRemote {
    patterns: Vec<HostPattern>,
}

impl AllowRemote {
    pub fn new(patterns: Vec<HostPattern>) -> AllowRemote {
        AllowRemote { patterns }
    }

    /// Parses `--allow-remote` values.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<AllowRemote, crate::error::CapabilityError> {
        texts.iter().map(|t| HostPattern::parse(t.as_ref())).collect::<Result<_, _>>().map(AllowRemote::new)
    }

    /// These patterns and `other`'s.
    pub fn union(&self, other: &AllowRemote) -> AllowRemote {
        AllowRemote { patterns: self.patterns.iter().chain(&other.patterns).cloned().collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The addresses of `host:port` that may be connected to: all of them when none is
    /// internal or a pattern allows the host or the address; else the reason it is refused.
    pub(crate) fn vet(&self, scheme: &str, host: &str, port: u16, addrs: &[SocketAddr]) -> Result<Vec<SocketAddr>, String> {
        if addrs.is_empty() {
            return Err(format!("`{host}` resolved to no address"));
        }
        let host_allowed = self.allows(scheme, host, port);
        for a in addrs {
            if let Some(class) = internal(a.ip())
                && !host_allowed
                && !self.allows(scheme, &ip_text(a.ip()), port)
            {
                return Err(format!(
                    "`{host}:{port}` resolves to {}, a {class} address: remote plugins may not reach internal addresses \
                     unless the operator allows them (`--allow-remote {}:{port}`, or `allow_remote` in plugins.toml)",
                    a.ip(),
                    ip_text(a.ip())
                ));
            }
        }
        Ok(addrs.to_vec())
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.patterns.iter().any(|p| p.allows(scheme, host, Some(port)))
    }
}

/// An address as a host pattern names it (`[::1]` for IPv6).
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Which kind of internal address `ip` is, or `None` for a public one.
pub(crate) fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            internal_v6(v6)
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_private() => "private",
        // 169.254.169.254 (AWS, GCP, Azure metadata) is in here.
        _ if ip.is_link_local() => "link-local",
        // Carrier-grade NAT, 100.64.0.0/10; Alibaba's metadata is 100.100.100.200.
        (100, 64..=127) => "shared (carrier-grade NAT)",
        // IETF protocol assignments (192.0.0.0/24, Oracle's metadata is 192.0.0.192).
        (192, 0) if c == 0 => "reserved",
        _ if ip.is_broadcast() || ip.is_multicast() || a >= 240 => "broadcast, multicast or reserved",
        _ => return None,
    })
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        // fc00::/7, unique local; AWS's IPv6 metadata endpoint fd00:ec2::254 is in here.
        _ if first & 0xfe00 == 0xfc00 => "private (unique local)",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if ip.is_multicast() => "multicast",
        // 64:ff9b::/96 NAT64 and ::a.b.c.d compatibility forms reach IPv4 space.
        0x64 if ip.segments()[1] == 0xff9b => {
            let s = ip.segments();
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            return internal_v4(v4);
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_named() {
        for (ip, class) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.100.100.200", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("fd00:ec2::254", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            assert_eq!(internal(ip.parse().unwrap()), Some(class), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "172.32.0.1", "100.128.0.1"] {
            assert_eq!(internal(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn internal_addresses_need_a_pattern_that_names_them_and_their_port() {
        let none = AllowRemote::default();
        let err = none.vet("http", "localhost", 9000, &[addr("127.0.0.1:9000")]).unwrap_err();
        assert!(err.contains("loopback") && err.contains("--allow-remote 127.0.0.1:9000"), "{err}");
        // A public name that resolves inside is refused the same way.
        assert!(none.vet("http", "evil.example.com", 80, &[addr("8.8.8.8:80"), addr("10.0.0.1:80")]).is_err());
        assert!(none.vet("http", "dns.google", 80, &[addr("8.8.8.8:80")]).is_ok());

        let local = AllowRemote::parse(&["127.0.0.1:*"]).unwrap();
        assert!(local.vet("http", "127.0.0.1", 9000, &[addr("127.0.0.1:9000")]).is_ok());
        assert!(local.vet("http", "localhost", 9000, &[addr("127.0.0.1:9000")]).is_ok(), "by the address it resolved to");
        assert!(local.vet("http", "localhost", 9000, &[addr("[::1]:9000")]).is_err(), "::1 is not 127.0.0.1");
        let one_port = AllowRemote::parse(&["localhost:8080"]).unwrap();
        assert!(one_port.vet("http", "localhost", 8080, &[addr("127.0.0.1:8080")]).is_ok());
        assert!(one_port.vet("http", "localhost", 8081, &[addr("127.0.0.1:8081")]).is_err());
        assert!(none.vet("http", "nowhere", 80, &[]).is_err());
    }
}
