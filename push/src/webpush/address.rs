//! Which addresses a Web Push endpoint may reach. An endpoint is chosen by a paired device, so
//! without this rule a device could make the service call its own `/metrics`, the cloud
//! metadata address or the LAN. Loopback, private, link-local and other non-public addresses
//! are refused unless the operator's allow-list (`push.webpush.allow_addresses`) admits them.
//! The rule is applied to an endpoint at registration and to every address its name resolves
//! to when a push is sent (the connection uses only the addresses checked, so a name that
//! resolves differently the second time — DNS rebinding — gains nothing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// One allow-list entry: an address and prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr` or `addr/prefix`; the message says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0–{max}"))?,
        };
        Ok(Self { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The rule: public addresses, plus what the allow-list admits.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressPolicy {
    allow: Arc<Vec<Cidr>>,
}

impl AddressPolicy {
    /// Public addresses only, plus `allow`.
    pub(crate) fn new(allow: Vec<Cidr>) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }

    /// `Err(why)` when a push must not be sent to `ip`.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), String> {
        // `::ffff:127.0.0.1` is 127.0.0.1.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        match non_public(ip) {
            Some(kind) => Err(format!(
                "the endpoint's address {ip} is {kind}; add it to push.webpush.allow_addresses \
                 if this distributor is yours"
            )),
            None => Ok(()),
        }
    }

    /// A host name that is loopback by definition (`localhost`, `*.localhost`), checked like
    /// 127.0.0.1 without a lookup.
    pub(crate) fn check_name(&self, host: &str) -> Result<(), String> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host == "localhost" || host.ends_with(".localhost") {
            return self
                .check(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .map_err(|_| format!("the endpoint's host {host} is loopback; refused"));
        }
        Ok(())
    }

    /// The resolved addresses of an endpoint this policy lets a push connect to; `Err` when
    /// none is left.
    pub(crate) fn filter(
        &self,
        host: &str,
        addrs: impl Iterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, String> {
        let mut refused = None;
        let kept: Vec<SocketAddr> = addrs
            .filter(|a| match self.check(a.ip()) {
                Ok(()) => true,
                Err(why) => {
                    refused.get_or_insert(why);
                    false
                }
            })
            .collect();
        if kept.is_empty() {
            return Err(refused.unwrap_or_else(|| format!("{host} has no address")));
        }
        Ok(kept)
    }
}

/// What kind of non-public address `ip` is, if it is one.
fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_loopback() {
                Some("loopback")
            } else if a.is_private() {
                Some("private")
            } else if a.is_link_local() {
                Some("link-local")
            } else if a.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("shared (carrier-grade NAT)")
            } else if a.is_multicast() || a.is_broadcast() || o[0] >= 240 {
                Some("multicast or reserved")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            if a.is_loopback() {
                Some("loopback")
            } else if a.is_unspecified() {
                Some("unspecified")
            } else if (first & 0xfe00) == 0xfc00 {
                Some("private (unique local)")
            } else if (first & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if a.is_multicast() {
                Some("multicast")
            } else if is_v4_translated(&a) {
                Some("an IPv4 translation address")
            } else {
                None
            }
        }
    }
}

/// NAT64 (`64:ff9b::/96`) and IPv4-compatible (`::a.b.c.d`) forms can reach IPv4 hosts the
/// rule above would refuse; refused rather than decoded.
fn is_v4_translated(a: &Ipv6Addr) -> bool {
    let s = a.segments();
    (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) || s[..6] == [0; 6]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn non_public_addresses_are_refused_unless_allowed() {
        let strict = AddressPolicy::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.20",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::a00:1",
        ] {
            assert!(strict.check(ip(refused)).is_err(), "{refused}");
        }
        for public in [
            "93.184.215.14",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "8.8.8.8",
        ] {
            assert!(strict.check(ip(public)).is_ok(), "{public}");
        }
        let lan = AddressPolicy::new(vec![
            Cidr::parse("192.168.1.0/24").expect("cidr"),
            Cidr::parse("::1").expect("cidr"),
        ]);
        assert!(lan.check(ip("192.168.1.20")).is_ok());
        assert!(lan.check(ip("192.168.2.20")).is_err());
        assert!(lan.check(ip("::1")).is_ok());
        assert!(lan.check(ip("127.0.0.1")).is_err());
        assert!(strict.check_name("localhost").is_err());
        assert!(strict.check_name("a.LOCALHOST.").is_err());
        assert!(strict.check_name("ntfy.sh").is_ok());
    }

    #[test]
    fn cidr_parsing_explains_mistakes() {
        assert!(
            Cidr::parse("10.0.0.0/33")
                .expect_err("refused")
                .contains("0–32")
        );
        assert!(
            Cidr::parse("lan")
                .expect_err("refused")
                .contains("not an IP")
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("10.0.0.1"))
        );
        assert!(
            !Cidr::parse("::/0")
                .expect("all v6")
                .contains(ip("10.0.0.1"))
        );
    }

    #[test]
    fn filtering_keeps_only_permitted_addresses() {
        let strict = AddressPolicy::default();
        let addrs = vec![
            SocketAddr::new(ip("127.0.0.1"), 443),
            SocketAddr::new(ip("8.8.8.8"), 443),
        ];
        assert_eq!(
            strict.filter("x", addrs.clone().into_iter()).expect("one"),
            vec![addrs[1]]
        );
        let err = strict
            .filter("x", addrs[..1].iter().copied())
            .expect_err("loopback only");
        assert!(err.contains("loopback"), "{err}");
    }
}
