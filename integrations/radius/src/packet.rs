//! The RADIUS packet format (RFC 2865 §3–§5), the Message-Authenticator (RFC 3579 §3.2,
//! RFC 2869 §5.14) and the User-Password hiding (RFC 2865 §5.2).
//!
//! Written here rather than taken from the `radius` crate: verifying a Message-Authenticator
//! needs the packet exactly as received (attributes in order, the MAC zeroed in place), and a
//! reply's MAC must be computed before its Response Authenticator. That crate's packet type
//! re-encodes from a dictionary model and leaves both steps to the caller, so we would have
//! written the security-relevant half anyway; the format itself is a few dozen lines. Pure: no
//! I/O and no randomness (callers pass random authenticators in), so the fuzz target
//! (`fuzz/fuzz_targets/radius_packet.rs`) reaches all of it.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Packet codes (RFC 2865 §3).
pub mod code {
    /// Access-Request.
    pub const ACCESS_REQUEST: u8 = 1;
    /// Access-Accept.
    pub const ACCESS_ACCEPT: u8 = 2;
    /// Access-Reject.
    pub const ACCESS_REJECT: u8 = 3;
    /// Access-Challenge.
    pub const ACCESS_CHALLENGE: u8 = 11;
}

/// Attribute types used here (RFC 2865 §5, RFC 2869 §5.14).
pub mod attr {
    /// User-Name.
    pub const USER_NAME: u8 = 1;
    /// User-Password.
    pub const USER_PASSWORD: u8 = 2;
    /// CHAP-Password.
    pub const CHAP_PASSWORD: u8 = 3;
    /// NAS-IP-Address.
    pub const NAS_IP_ADDRESS: u8 = 4;
    /// Reply-Message.
    pub const REPLY_MESSAGE: u8 = 18;
    /// State.
    pub const STATE: u8 = 24;
    /// Calling-Station-Id.
    pub const CALLING_STATION_ID: u8 = 31;
    /// NAS-Identifier.
    pub const NAS_IDENTIFIER: u8 = 32;
    /// Vendor-Specific.
    pub const VENDOR_SPECIFIC: u8 = 26;
    /// Proxy-State.
    pub const PROXY_STATE: u8 = 33;
    /// EAP-Message.
    pub const EAP_MESSAGE: u8 = 79;
    /// Message-Authenticator.
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
}

/// Smallest packet: the header.
pub const HEADER_LEN: usize = 20;
/// Largest packet RFC 2865 allows.
pub const MAX_PACKET_LEN: usize = 4096;
/// Longest attribute value (the length octet counts the two header octets).
pub const MAX_VALUE_LEN: usize = 253;
/// Longest hidden User-Password (RFC 2865 §5.2).
pub const MAX_PASSWORD_LEN: usize = 128;

/// One attribute, its value as on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The type octet.
    pub kind: u8,
    /// The value (0–253 octets).
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A User-Password value is only hidden with the shared secret: never print it.
        if self.kind == attr::USER_PASSWORD {
            write!(f, "Attribute({}, [hidden])", self.kind)
        } else {
            write!(f, "Attribute({}, {} octets)", self.kind, self.value.len())
        }
    }
}

impl Attribute {
    /// An attribute; `value` longer than [`MAX_VALUE_LEN`] is refused when encoding.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Code (see [`code`]).
    pub code: u8,
    /// Identifier: matches replies to requests.
    pub identifier: u8,
    /// Request or Response Authenticator.
    pub authenticator: [u8; 16],
    /// Attributes in wire order.
    pub attributes: Vec<Attribute>,
}

/// Why bytes are not a RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer octets than the header or than the Length field says.
    #[error("truncated packet: {got} octets, {need} needed")]
    Truncated {
        /// Octets received.
        got: usize,
        /// Octets needed.
        need: usize,
    },
    /// Length field outside 20–4096.
    #[error("packet length {0} outside 20-4096")]
    BadLength(usize),
    /// An attribute whose length octet is below 2 or runs past the packet.
    #[error("malformed attribute at offset {0}")]
    BadAttribute(usize),
    /// Encoding would exceed a length limit.
    #[error("packet or attribute too long to encode")]
    TooLong,
}

/// Why a Message-Authenticator or authenticator check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthenticatorError {
    /// No Message-Authenticator attribute.
    #[error("no Message-Authenticator")]
    Missing,
    /// More than one, or not 16 octets.
    #[error("malformed Message-Authenticator")]
    Malformed,
    /// The MAC or Response Authenticator does not match (wrong shared secret, or tampering).
    #[error("authenticator does not match (wrong shared secret?)")]
    Mismatch,
}

impl Packet {
    /// A packet with no attributes.
    pub fn new(code: u8, identifier: u8, authenticator: [u8; 16]) -> Self {
        Self {
            code,
            identifier,
            authenticator,
            attributes: Vec::new(),
        }
    }

    /// Decodes a packet. Octets past the Length field are padding and ignored (RFC 2865 §3).
    pub fn decode(bytes: &[u8]) -> Result<Self, PacketError> {
        if bytes.len() < HEADER_LEN {
            return Err(PacketError::Truncated {
                got: bytes.len(),
                need: HEADER_LEN,
            });
        }
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
            return Err(PacketError::BadLength(len));
        }
        if bytes.len() < len {
            return Err(PacketError::Truncated {
                got: bytes.len(),
                need: len,
            });
        }
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&bytes[4..20]);
        let mut attributes = Vec::new();
        let mut at = HEADER_LEN;
        while at < len {
            if at + 2 > len {
                return Err(PacketError::BadAttribute(at));
            }
            let alen = usize::from(bytes[at + 1]);
            if alen < 2 || at + alen > len {
                return Err(PacketError::BadAttribute(at));
            }
            attributes.push(Attribute::new(bytes[at], &bytes[at + 2..at + alen]));
            at += alen;
        }
        Ok(Self {
            code: bytes[0],
            identifier: bytes[1],
            authenticator,
            attributes,
        })
    }

    /// Encodes the packet as it is (no authenticator computed).
    pub fn encode(&self) -> Result<Vec<u8>, PacketError> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.attributes.len() * 8);
        out.extend_from_slice(&[self.code, self.identifier, 0, 0]);
        out.extend_from_slice(&self.authenticator);
        for a in &self.attributes {
            if a.value.len() > MAX_VALUE_LEN {
                return Err(PacketError::TooLong);
            }
            out.push(a.kind);
            out.push(a.value.len() as u8 + 2);
            out.extend_from_slice(&a.value);
        }
        if out.len() > MAX_PACKET_LEN {
            return Err(PacketError::TooLong);
        }
        let len = (out.len() as u16).to_be_bytes();
        out[2..4].copy_from_slice(&len);
        Ok(out)
    }

    /// The first value of an attribute.
    pub fn attr(&self, kind: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.value.as_slice())
    }

    /// Every value of an attribute, in order.
    pub fn attrs(&self, kind: u8) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |a| a.kind == kind)
            .map(|a| a.value.as_slice())
    }

    /// Checks a request's Message-Authenticator: exactly one, 16 octets, equal (in constant
    /// time) to HMAC-MD5 keyed with the shared secret over the packet with it zeroed.
    pub fn verify_request(&self, secret: &[u8]) -> Result<(), AuthenticatorError> {
        self.verify_mac(secret, self.authenticator)
    }

    /// Checks a reply to a request whose authenticator was `request_authenticator`: the
    /// Response Authenticator always, and the Message-Authenticator if `require_mac` or if one
    /// is present (servers before FreeRADIUS 3.2.5 send none on Accept/Reject).
    pub fn verify_response(
        &self,
        request_authenticator: [u8; 16],
        secret: &[u8],
        require_mac: bool,
    ) -> Result<(), AuthenticatorError> {
        let mut copy = self.clone();
        copy.authenticator = request_authenticator;
        let expected = response_authenticator(
            &copy.encode().map_err(|_| AuthenticatorError::Malformed)?,
            secret,
        );
        if !bool::from(expected.ct_eq(&self.authenticator)) {
            return Err(AuthenticatorError::Mismatch);
        }
        match self.verify_mac(secret, request_authenticator) {
            Err(AuthenticatorError::Missing) if !require_mac => Ok(()),
            other => other,
        }
    }

    /// HMAC-MD5 check with `authenticator` in the header (RFC 3579 §3.2).
    fn verify_mac(&self, secret: &[u8], authenticator: [u8; 16]) -> Result<(), AuthenticatorError> {
        let mut found = self
            .attributes
            .iter()
            .filter(|a| a.kind == attr::MESSAGE_AUTHENTICATOR);
        let mac = found.next().ok_or(AuthenticatorError::Missing)?;
        if found.next().is_some() || mac.value.len() != 16 {
            return Err(AuthenticatorError::Malformed);
        }
        let mut zeroed = self.clone();
        zeroed.authenticator = authenticator;
        for a in &mut zeroed.attributes {
            if a.kind == attr::MESSAGE_AUTHENTICATOR {
                a.value = vec![0; 16];
            }
        }
        let bytes = zeroed.encode().map_err(|_| AuthenticatorError::Malformed)?;
        let mut h = hmac_md5(secret);
        h.update(&bytes);
        // `verify_slice` compares in constant time.
        h.verify_slice(&mac.value)
            .map_err(|_| AuthenticatorError::Mismatch)
    }

    /// Encodes a reply to `request`: a zeroed Message-Authenticator is appended and filled in,
    /// then the Response Authenticator is computed over the result (RFC 3579 §3.2 order).
    pub fn encode_reply(&self, request: &Packet, secret: &[u8]) -> Result<Vec<u8>, PacketError> {
        let mut reply = self.clone();
        reply.identifier = request.identifier;
        reply.authenticator = request.authenticator;
        reply
            .attributes
            .retain(|a| a.kind != attr::MESSAGE_AUTHENTICATOR);
        reply
            .attributes
            .push(Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 16]));
        let mut bytes = reply.encode()?;
        let mut h = hmac_md5(secret);
        h.update(&bytes);
        let mac = h.finalize().into_bytes();
        let at = bytes.len() - 16;
        bytes[at..].copy_from_slice(&mac);
        let auth = response_authenticator(&bytes, secret);
        bytes[4..20].copy_from_slice(&auth);
        Ok(bytes)
    }

    /// Encodes a request whose header already holds its (random) Request Authenticator, with
    /// a Message-Authenticator appended and filled in.
    pub fn encode_request(&self, secret: &[u8]) -> Result<Vec<u8>, PacketError> {
        let mut req = self.clone();
        req.attributes
            .retain(|a| a.kind != attr::MESSAGE_AUTHENTICATOR);
        req.attributes
            .push(Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 16]));
        let mut bytes = req.encode()?;
        let mut h = hmac_md5(secret);
        h.update(&bytes);
        let mac = h.finalize().into_bytes();
        let at = bytes.len() - 16;
        bytes[at..].copy_from_slice(&mac);
        Ok(bytes)
    }
}

fn hmac_md5(secret: &[u8]) -> Hmac<Md5> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Md5>::new_from_slice(secret) {
        Ok(h) => h,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// MD5(packet with the Request Authenticator in its header, then the secret).
fn response_authenticator(bytes_with_request_auth: &[u8], secret: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(bytes_with_request_auth);
    h.update(secret);
    h.finalize().into()
}

/// Why a User-Password value cannot be revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed User-Password (length {0}, must be a multiple of 16 up to 128)")]
pub struct BadPassword(pub usize);

/// Reveals a User-Password hidden with `secret` and the request's authenticator (RFC 2865
/// §5.2); trailing NULs of the padding are removed.
pub fn reveal_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Zeroizing<Vec<u8>>, BadPassword> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) || hidden.len() > MAX_PASSWORD_LEN {
        return Err(BadPassword(hidden.len()));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(hidden.len()));
    let mut prev: &[u8] = authenticator;
    for chunk in hidden.chunks(16) {
        let b = password_block(secret, prev);
        out.extend(chunk.iter().zip(b.iter()).map(|(c, k)| c ^ k));
        prev = chunk;
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Ok(out)
}

/// Hides `password` for `secret` and the request's authenticator (RFC 2865 §5.2).
pub fn hide_password(
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Vec<u8>, BadPassword> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(BadPassword(password.len()));
    }
    let padded_len = password.len().div_ceil(16).max(1) * 16;
    let mut padded = Zeroizing::new(password.to_vec());
    padded.resize(padded_len, 0);
    let mut out = Vec::with_capacity(padded_len);
    for chunk in padded.chunks(16) {
        let prev: &[u8] = if out.is_empty() {
            authenticator
        } else {
            &out[out.len() - 16..]
        };
        let b = password_block(secret, prev);
        let block: Vec<u8> = chunk.iter().zip(b.iter()).map(|(p, k)| p ^ k).collect();
        out.extend_from_slice(&block);
    }
    Ok(out)
}

fn password_block(secret: &[u8], prev: &[u8]) -> Zeroizing<[u8; 16]> {
    let mut h = Md5::new();
    h.update(secret);
    h.update(prev);
    Zeroizing::new(h.finalize().into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 2865 §7.1's example: an Access-Request from NAS 192.168.1.16 for "nemo" with
    /// password "arctangent" and secret "xyzzy5461".
    const RFC_REQUEST: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003";
    /// Its Access-Accept (Service-Type, Login-Service, Login-IP-Host).
    const RFC_ACCEPT: &str =
        "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103";
    const RFC_AUTH: [u8; 16] = [
        0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4, 0x22,
        0x7a,
    ];

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc_2865_password_example() {
        // §7.1: User-Password "arctangent" hidden with the secret and authenticator below.
        let hidden = hex("0dbe708d93d413ce3196e43f782a0aee");
        let secret = b"xyzzy5461";
        let got = reveal_password(&hidden, secret, &RFC_AUTH).unwrap();
        assert_eq!(got.as_slice(), b"arctangent");
        assert_eq!(
            hide_password(b"arctangent", secret, &RFC_AUTH).unwrap(),
            hidden
        );
        let req = Packet::decode(&hex(RFC_REQUEST)).unwrap();
        assert_eq!(req.authenticator, RFC_AUTH);
        assert_eq!(req.attr(attr::USER_NAME), Some(&b"nemo"[..]));
        assert_eq!(req.attr(attr::USER_PASSWORD), Some(hidden.as_slice()));
        assert_eq!(req.encode().unwrap(), hex(RFC_REQUEST));
        let accept = Packet::decode(&hex(RFC_ACCEPT)).unwrap();
        assert_eq!(accept.verify_response(RFC_AUTH, secret, false), Ok(()));
        assert_eq!(
            accept.verify_response(RFC_AUTH, secret, true),
            Err(AuthenticatorError::Missing)
        );
    }

    #[test]
    fn decode_encode_round_trip_and_limits() {
        let mut p = Packet::new(code::ACCESS_REQUEST, 7, [1; 16]);
        p.attributes.push(Attribute::new(attr::USER_NAME, "alice"));
        p.attributes.push(Attribute::new(attr::PROXY_STATE, vec![]));
        let bytes = p.encode().unwrap();
        assert_eq!(Packet::decode(&bytes).unwrap(), p);
        // Padding after Length is ignored.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0xff; 5]);
        assert_eq!(Packet::decode(&padded).unwrap(), p);
        assert!(matches!(
            Packet::decode(&bytes[..bytes.len() - 1]),
            Err(PacketError::Truncated { .. })
        ));
        let mut bad = bytes.clone();
        bad[21] = 1; // attribute length 1
        assert_eq!(Packet::decode(&bad), Err(PacketError::BadAttribute(20)));
        p.attributes
            .push(Attribute::new(attr::REPLY_MESSAGE, vec![b'x'; 254]));
        assert_eq!(p.encode(), Err(PacketError::TooLong));
    }

    #[test]
    fn message_authenticator_signs_and_verifies() {
        let mut req = Packet::new(code::ACCESS_REQUEST, 9, [3; 16]);
        req.attributes.push(Attribute::new(attr::USER_NAME, "bob"));
        let bytes = req.encode_request(b"s3cret").unwrap();
        let got = Packet::decode(&bytes).unwrap();
        assert_eq!(got.verify_request(b"s3cret"), Ok(()));
        assert_eq!(
            got.verify_request(b"other"),
            Err(AuthenticatorError::Mismatch)
        );
        assert_eq!(
            req.verify_request(b"s3cret"),
            Err(AuthenticatorError::Missing)
        );
        let mut twice = got.clone();
        twice.attributes.push(twice.attributes[1].clone());
        assert_eq!(
            twice.verify_request(b"s3cret"),
            Err(AuthenticatorError::Malformed)
        );
        let mut flipped = bytes.clone();
        flipped[22] ^= 1;
        let flipped = Packet::decode(&flipped).unwrap();
        assert_eq!(
            flipped.verify_request(b"s3cret"),
            Err(AuthenticatorError::Mismatch)
        );

        let mut accept = Packet::new(code::ACCESS_ACCEPT, 0, [0; 16]);
        accept
            .attributes
            .push(Attribute::new(attr::PROXY_STATE, "p1"));
        let reply = Packet::decode(&accept.encode_reply(&got, b"s3cret").unwrap()).unwrap();
        assert_eq!(reply.identifier, 9);
        assert_eq!(
            reply.verify_response(got.authenticator, b"s3cret", true),
            Ok(())
        );
        assert_eq!(
            reply.verify_response(got.authenticator, b"nope", true),
            Err(AuthenticatorError::Mismatch)
        );
        assert_eq!(
            reply.verify_response([9; 16], b"s3cret", true),
            Err(AuthenticatorError::Mismatch)
        );
    }
}
