//! Compact JWS (RFC 7515) with ES256 only. Written here rather than taken from a JWT crate so
//! that ring stays the only signature library (`sealed` adds x25519-dalek only for the device's
//! static X25519 key, which ring cannot hold), sizes are checked before any decoding, and nothing
//! but `alg: ES256` with the expected `typ` is ever accepted (no `none`, no algorithm confusion).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::keys::{Es256Signer, PublicKey, SIGNATURE_LEN};
use crate::{MAX_TOKEN_LEN, ProtocolError};

/// The protected header. Exactly these fields; unknown fields (such as `crit`) are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `ES256`.
    pub alg: String,
    /// Media type of the payload, e.g. `tapprove-challenge+jwt`.
    pub typ: String,
    /// Key id: the service key id for challenges, the account id for device-signed tokens.
    pub kid: String,
}

/// A compact JWS split into its parts, signature not yet checked.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// Decoded protected header.
    pub header: Header,
    payload: Vec<u8>,
    signing_input_len: usize,
    token: String,
    signature: [u8; SIGNATURE_LEN],
}

impl Unverified {
    /// Splits and decodes `token`, checking size, shape, `alg` and `typ` — not the signature.
    pub fn parse(token: &str, expected_typ: &str) -> Result<Self, ProtocolError> {
        let (h, p, s) = split(token)?;
        let header: Header = serde_json::from_slice(&b64(h, "header")?)
            .map_err(|e| ProtocolError::Malformed(format!("header: {e}")))?;
        if header.alg != "ES256" {
            return Err(ProtocolError::UnsupportedHeader(format!(
                "alg {}",
                header.alg
            )));
        }
        if header.typ != expected_typ {
            return Err(ProtocolError::UnsupportedHeader(format!(
                "typ {} (expected {expected_typ})",
                header.typ
            )));
        }
        let payload = b64(p, "payload")?;
        let signature: [u8; SIGNATURE_LEN] = b64(s, "signature")?
            .try_into()
            .map_err(|_| ProtocolError::Malformed("signature must be 64 bytes".into()))?;
        Ok(Self {
            header,
            payload,
            signing_input_len: h.len() + 1 + p.len(),
            token: token.to_owned(),
            signature,
        })
    }

    /// The exact bytes that are signed: `BASE64URL(header) "." BASE64URL(payload)`.
    pub fn signing_input(&self) -> &[u8] {
        &self.token.as_bytes()[..self.signing_input_len]
    }

    /// The raw signature.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Checks the signature with `key` and decodes the payload as `T`.
    pub fn verify<T: DeserializeOwned>(&self, key: &PublicKey) -> Result<T, ProtocolError> {
        key.verify(self.signing_input(), &self.signature)?;
        self.payload_unverified()
    }

    /// Decodes the payload without checking the signature. Only for routing (finding which key
    /// to verify with); never trust what it returns.
    pub fn payload_unverified<T: DeserializeOwned>(&self) -> Result<T, ProtocolError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| ProtocolError::Malformed(format!("payload: {e}")))
    }
}

/// The header, payload and signature parts of a compact JWS, still encoded: the size and
/// shape every reader of a token checks first.
pub(crate) fn split(token: &str) -> Result<(&str, &str, &str), ProtocolError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ProtocolError::Oversized {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProtocolError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    Ok((h, p, s))
}

/// One part decoded (base64url without padding); `what` names it in the error.
pub(crate) fn b64(part: &str, what: &str) -> Result<Vec<u8>, ProtocolError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProtocolError::Malformed(format!("{what} is not base64url without padding")))
}

/// Serialises `payload`, signs it and returns the compact JWS.
pub fn sign<T: Serialize + ?Sized>(
    payload: &T,
    typ: &str,
    kid: &str,
    signer: &dyn Es256Signer,
) -> Result<String, crate::SignError> {
    let header = Header {
        alg: "ES256".into(),
        typ: typ.into(),
        kid: kid.into(),
    };
    let mut token = format!("{}.{}", b64_json(&header)?, b64_json(payload)?);
    let sig = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(token)
}

fn b64_json<T: Serialize + ?Sized>(value: &T) -> Result<String, crate::SignError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| crate::SignError(format!("could not serialise payload: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a signed time `iat` is more than `skew_seconds` away from `now`, either way. Computed
/// without overflow: `iat` is the signer's number (`i64::MIN` must be refused, not wrap or
/// panic).
pub(crate) fn outside_skew(iat: i64, now: i64, skew_seconds: i64) -> bool {
    iat.abs_diff(now) > skew_seconds.max(0).unsigned_abs()
}

/// A device-signed token's claims that every such token (answers, shown acknowledgements) has.
pub(crate) trait DeviceClaims: DeserializeOwned {
    /// The account it is signed for (must be the header's `kid`).
    fn account_id(&self) -> &str;
    /// When it was signed, Unix seconds.
    fn iat(&self) -> i64;
    /// Its own field rules.
    fn validate(&self) -> Result<(), ProtocolError>;
}

/// The one rule for device-signed tokens: the signature verifies under the device's key, the
/// version is this protocol's, the fields pass their rules, `kid` is the claimed account, and
/// `iat` lies within `skew_seconds` of `now`.
pub(crate) fn verify_device_token<T: DeviceClaims>(
    token: &str,
    typ: &str,
    device_key: &PublicKey,
    now: i64,
    skew_seconds: i64,
) -> Result<T, ProtocolError> {
    let jws = Unverified::parse(token, typ)?;
    let crate::challenge::VersionOnly { ver } = jws.verify(device_key)?;
    if ver != crate::PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion(ver));
    }
    let claims: T = jws.payload_unverified()?;
    claims.validate()?;
    if claims.account_id() != jws.header.kid {
        return Err(crate::challenge::invalid("kid must equal account_id"));
    }
    if outside_skew(claims.iat(), now, skew_seconds) {
        return Err(if claims.iat() > now {
            ProtocolError::NotYetValid
        } else {
            ProtocolError::Expired
        });
    }
    Ok(claims)
}

/// The (session id, account id) a device-signed token claims, unverified: to look up the key.
pub(crate) fn peek_device_ids(token: &str, typ: &str) -> Result<(String, String), ProtocolError> {
    #[derive(Deserialize)]
    struct Route {
        session_id: String,
        account_id: String,
    }
    let r: Route = Unverified::parse(token, typ)?.payload_unverified()?;
    Ok((r.session_id, r.account_id))
}
