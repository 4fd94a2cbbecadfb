//! Service addresses: the server URL an app configures, the URL of each call, and the
//! `application/x-www-form-urlencoded` query of enrollment links.
//!
//! Written here rather than taken from the `url` crate for the phone library's size: `url`
//! and the IDNA code it brings were about 37 KB of the stripped library (docs/PERFORMANCE.md,
//! P2) for the one shape Tapprove needs, `http(s)://host[:port][/path][?query]` in ASCII.
//! What is accepted is a strict subset of the WHATWG URL standard, serialized as that
//! standard does (a test holds both against `url`); anything outside it is refused, never
//! normalized: user info, backslashes, whitespace, percent-encoded or Unicode hosts, numeric
//! hosts other than a dotted-quad IPv4 address, dot segments, fragments. One thing is taken
//! that `url` would check further: an `xn--` (punycode) label is used as it is, as DNS and TLS
//! use it, without decoding it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a URL was refused (the caller says which URL and what to write instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddressError {
    /// Not `scheme://…`.
    NotAbsolute,
    /// A scheme other than `http` or `https`.
    Scheme(String),
    /// No host after `://`.
    NoHost,
    /// `user[:password]@` before the host.
    UserInfo,
    /// The host is not a name, a dotted-quad IPv4 or a bracketed IPv6 address.
    Host,
    /// The port is not a number from 1 to 65535.
    Port,
    /// A character the path or query may not hold, a dot segment or a fragment.
    Target,
    /// A form value that is not percent-encoded UTF-8.
    Form,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "it does not start with https://",
            Self::Scheme(_) => "only https:// and http:// are supported",
            Self::NoHost => "it has no host",
            Self::UserInfo => "it contains a user name or password",
            Self::Host => {
                "its host must be a DNS name (ASCII letters, digits, `-`, `_`, `.`), a dotted IPv4 \
                 address or a bracketed IPv6 address"
            }
            Self::Port => "its port must be a number from 1 to 65535",
            Self::Target => {
                "its path or query holds a character that must be percent-encoded, a `.` or `..` \
                 segment, or a fragment"
            }
            Self::Form => "a value is not percent-encoded UTF-8",
        })
    }
}

/// A host as it appears in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A DNS name, lowercased.
    Domain(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host {
    /// As in a URL: the name, the dotted quad, or `[v6]` in the WHATWG form (the longest run
    /// of two or more zero pieces as `::`, lowercase hex, never a dotted IPv4 tail).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(name) => f.write_str(name),
            Host::Ipv4(ip) => write!(f, "{ip}"),
            Host::Ipv6(ip) => {
                let pieces = ip.segments();
                let (mut best, mut run) = ((0, 0), (0, 0));
                for (i, piece) in pieces.iter().enumerate() {
                    if *piece == 0 {
                        run = if run.1 == 0 {
                            (i, 1)
                        } else {
                            (run.0, run.1 + 1)
                        };
                        if run.1 > best.1 {
                            best = run;
                        }
                    } else {
                        run = (0, 0);
                    }
                }
                f.write_str("[")?;
                let mut i = 0;
                while i < pieces.len() {
                    if best.1 >= 2 && i == best.0 {
                        f.write_str(if i == 0 { "::" } else { ":" })?;
                        i += best.1;
                        continue;
                    }
                    write!(f, "{:x}", pieces[i])?;
                    if i + 1 < pieces.len() {
                        f.write_str(":")?;
                    }
                    i += 1;
                }
                f.write_str("]")
            }
        }
    }
}

/// Scheme, host and port: where the service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `https` (else `http`).
    pub tls: bool,
    pub host: Host,
    /// The port, `None` when it is the scheme's default.
    pub port: Option<u16>,
}

impl Origin {
    /// The port to connect to.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 443 } else { 80 })
    }

    /// `host[:port]`, as for the `Host` header.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

/// A parsed `http(s)` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl<'a> {
    pub origin: Origin,
    /// The path, `/` when the URL has none.
    pub path: &'a str,
    /// The query without its `?`.
    pub query: Option<&'a str>,
}

impl HttpUrl<'_> {
    /// The request target: path and query.
    pub fn target(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_owned(),
        }
    }
}

/// Parses `http(s)://host[:port][/path][?query]`.
pub(crate) fn parse(raw: &str) -> Result<HttpUrl<'_>, AddressError> {
    let (scheme, rest) = raw.split_once("://").ok_or(AddressError::NotAbsolute)?;
    let tls = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else if !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(AddressError::Scheme(scheme.to_ascii_lowercase()));
    } else {
        return Err(AddressError::NotAbsolute);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    if authority.contains('@') {
        return Err(AddressError::UserInfo);
    }
    let (host, port) = split_port(authority)?;
    let host = parse_host(host)?;
    let port = match port {
        None => None,
        Some(digits) => {
            let port = parse_port(digits)?;
            (port != if tls { 443 } else { 80 }).then_some(port)
        }
    };
    if target.contains('#') {
        return Err(AddressError::Target);
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    check_path(path)?;
    if let Some(query) = query {
        check_chars(query, "/?")?;
    }
    Ok(HttpUrl {
        origin: Origin { tls, host, port },
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

/// `host` and the port's digits, if a `:` is there.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), AddressError> {
    if authority.starts_with('[') {
        let close = authority.find(']').ok_or(AddressError::Host)?;
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(AddressError::Host),
            },
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn parse_host(host: &str) -> Result<Host, AddressError> {
    if host.is_empty() {
        return Err(AddressError::NoHost);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(AddressError::Host)?;
        // Zone ids (`%eth0`) and anything else std refuses are refused too.
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::Ipv6)
            .map_err(|_| AddressError::Host);
    }
    let labels: Vec<&str> = host.split('.').collect();
    let name_chars = |l: &&str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !labels.iter().all(name_chars) {
        return Err(AddressError::Host);
    }
    // The standard reads a host whose last label is a number (`1`, `0x7f`) as IPv4, in any of
    // its forms (`127.1`, `0177.0.0.1`): only the plain dotted quad is taken here.
    let last = labels[labels.len() - 1];
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || (last.len() >= 2
            && last[..2].eq_ignore_ascii_case("0x")
            && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if !numeric {
        return Ok(Host::Domain(host.to_ascii_lowercase()));
    }
    let decimal = |l: &&str| {
        l.len() <= 3
            && l.bytes().all(|b| b.is_ascii_digit())
            && (l.len() == 1 || !l.starts_with('0'))
    };
    if labels.len() != 4 || !labels.iter().all(decimal) {
        return Err(AddressError::Host);
    }
    host.parse::<Ipv4Addr>()
        .map(Host::Ipv4)
        .map_err(|_| AddressError::Host)
}

fn parse_port(digits: &str) -> Result<u16, AddressError> {
    let plain = !digits.is_empty()
        && digits.len() <= 5
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    match digits.parse::<u16>() {
        Ok(port) if plain => Ok(port),
        _ => Err(AddressError::Port),
    }
}

/// A path of `/`-separated segments without `.` or `..` (which a server would resolve, so the
/// signed path and the requested one could differ).
fn check_path(path: &str) -> Result<(), AddressError> {
    if path.is_empty() {
        return Ok(());
    }
    if !path.starts_with('/') {
        return Err(AddressError::Target);
    }
    check_chars(path, "/")?;
    if path.split('/').any(is_dot_segment) {
        return Err(AddressError::Target);
    }
    Ok(())
}

/// `.` or `..`, each dot possibly written `%2e` (as the standard reads them). Runs on every
/// call's path, so without allocating.
fn is_dot_segment(segment: &str) -> bool {
    match after_dot(segment) {
        Some("") => true,
        Some(rest) => after_dot(rest) == Some(""),
        None => false,
    }
}

/// What follows a leading `.` or `%2e`.
fn after_dot(s: &str) -> Option<&str> {
    s.strip_prefix('.').or_else(|| {
        s.get(..3)
            .filter(|p| p.eq_ignore_ascii_case("%2e"))
            .map(|_| &s[3..])
    })
}

/// RFC 3986 `pchar`s but `'` (which the standard escapes in queries) plus `extra`, with every
/// `%` starting a `%XX` escape.
fn check_chars(text: &str, extra: &str) -> Result<(), AddressError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let escape = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            if escape.is_none() {
                return Err(AddressError::Target);
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric()
            || b"-._~!$&()*+,;=:@".contains(&b)
            || extra.as_bytes().contains(&b);
        if !allowed {
            return Err(AddressError::Target);
        }
        i += 1;
    }
    Ok(())
}

/// The name/value pairs of an `application/x-www-form-urlencoded` query, in order (`+` is a
/// space; empty pieces skipped, as the standard does). A bad escape or invalid UTF-8 is an
/// error rather than replaced.
pub(crate) fn form_pairs(query: &str) -> Result<Vec<(String, String)>, AddressError> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

fn form_decode(text: &str) -> Result<String, AddressError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = text
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(AddressError::Form)?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| AddressError::Form)
}

/// Appends `name=value` to a form query, encoded as the standard's serializer does: ASCII
/// letters, digits and `*-._` as they are, space as `+`, every other byte as `%XX`.
pub(crate) fn form_append(query: &mut String, name: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    form_encode(query, name);
    query.push('=');
    form_encode(query, value);
}

fn form_encode(out: &mut String, text: &str) {
    for b in text.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests;
