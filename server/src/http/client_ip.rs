//! Who is calling: the client's IP address behind trusted proxies, and the key a per-address
//! limit counts it under. One home for both, used by the pairing limits and the audit log.
//!
//! Without `trusted_proxies` the client is the TCP peer and `X-Forwarded-For` is ignored
//! (anyone can send it). With them, a request whose peer is a trusted proxy is attributed to
//! the nearest address in `X-Forwarded-For` that is not itself a trusted proxy, read right to
//! left (each proxy appends the address it saw): the leftmost entries are whatever the client
//! wrote and are never believed past the first untrusted hop.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::service::state::AppState;

/// The caller's address as this service attributes it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientIp(pub IpAddr);

/// The client of a request from `peer` with these headers.
pub(crate) fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    // Every X-Forwarded-For header, in order, as one list; then from the right.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // A hop a trusted proxy would never write: the one before it is the client.
            break;
        };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    client
}

/// The key of a per-address limit: an IPv4 address, or the /64 of an IPv6 one (a single
/// subscriber usually holds a whole /64, so counting addresses would count nothing).
pub(crate) fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:203.0.113.7`, what a dual-stack socket reports) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// Middleware: puts the [`ClientIp`] of the request in its extensions.
pub(crate) async fn attach(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let ip = resolve(peer, request.headers(), &state.0.config.trusted_proxies);
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

/// The [`ClientIp`] a request was given by [`attach`].
pub(crate) fn of(request: &Request) -> Option<IpAddr> {
    request.extensions().get::<ClientIp>().map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let h = headers(&["198.51.100.9"]);
        assert_eq!(resolve(ip("203.0.113.7"), &h, &[]), ip("203.0.113.7"));
        // A peer that is not a trusted proxy cannot speak for anyone else either.
        assert_eq!(
            resolve(ip("203.0.113.7"), &h, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        // client → CDN edge (untrusted, appends nothing we believe) → our LB 10.0.0.2 → us
        let h = headers(&["6.6.6.6, 198.51.100.9"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.9"));
        // Two of our proxies in a row, the header split over two lines.
        let h = headers(&["1.2.3.4", "198.51.100.9, 10.0.0.7"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.9"));
        // Garbage in the chain: the hop after it is where we stop.
        let h = headers(&["198.51.100.9, not-an-ip, 203.0.113.50"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.50"));
        // Ports and brackets, IPv6 and IPv4-mapped peers.
        let h = headers(&["[2001:db8::5]:443"]);
        assert_eq!(resolve(ip("fd00::1"), &h, &trusted), ip("2001:db8::5"));
        let h = headers(&["198.51.100.9:5555"]);
        assert_eq!(
            resolve(ip("::ffff:10.0.0.2"), &h, &trusted),
            ip("198.51.100.9")
        );
        // A trusted proxy with no header is itself the client.
        assert_eq!(
            resolve(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::9")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(limit_key(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
    }
}
