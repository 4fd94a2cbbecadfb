//! Proof of possession on device API calls (like OAuth DPoP): each call carries
//! `Authorization: Tapprove <jws>` where the JWS, signed by the account's device key, binds the
//! HTTP method, path, a hash of the body and a time. The service verifies it with the stored
//! public key, so no bearer secret is ever stored on the phone or sent over the wire.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::challenge::{VersionOnly, invalid};
use crate::jws::{self, Unverified};
use crate::keys::{Es256Signer, PublicKey, SignError};
use crate::{PROTOCOL_VERSION, ProtocolError};

/// JWS `typ` of a request proof.
pub const REQUEST_TYP: &str = "tapprove-request+jwt";
/// The `Authorization` scheme.
pub const AUTH_SCHEME: &str = "Tapprove";

/// The claims of a request proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestProof {
    /// Protocol version.
    pub ver: u32,
    /// The calling account.
    pub account_id: String,
    /// HTTP method, upper case.
    pub htm: String,
    /// Request path without query, e.g. `/v1/device/pending`.
    pub htp: String,
    /// base64url SHA-256 of the request body (of the empty string when there is none).
    pub bh: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Random id, unique per request.
    pub jti: String,
}

/// base64url SHA-256 of `body`, as carried in [`RequestProof::bh`].
pub fn body_hash(body: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, body))
}

impl RequestProof {
    /// Builds and signs a proof for one request; returns the `Authorization` header value.
    pub fn authorization(
        account_id: &str,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
        jti: &str,
        signer: &dyn Es256Signer,
    ) -> Result<String, SignError> {
        let proof = Self {
            ver: PROTOCOL_VERSION,
            account_id: account_id.to_owned(),
            htm: method.to_ascii_uppercase(),
            htp: path.to_owned(),
            bh: body_hash(body),
            iat: now,
            jti: jti.to_owned(),
        };
        let token = jws::sign(&proof, REQUEST_TYP, account_id, signer)?;
        Ok(format!("{AUTH_SCHEME} {token}"))
    }

    /// The account an `Authorization` header claims, unverified: for looking up its key.
    pub fn peek_account_id(authorization: &str) -> Result<String, ProtocolError> {
        let token = strip_scheme(authorization)?;
        Ok(Unverified::parse(token, REQUEST_TYP)?.header.kid)
    }

    /// Verifies an `Authorization` header value for this exact request.
    pub fn verify(
        authorization: &str,
        device_key: &PublicKey,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
        skew_seconds: i64,
    ) -> Result<Self, ProtocolError> {
        let jws = Unverified::parse(strip_scheme(authorization)?, REQUEST_TYP)?;
        let VersionOnly { ver } = jws.verify(device_key)?;
        if ver != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion(ver));
        }
        let proof: Self = jws.payload_unverified()?;
        if proof.account_id != jws.header.kid {
            return Err(invalid("kid must equal account_id"));
        }
        if !proof.htm.eq_ignore_ascii_case(method) || proof.htp != path {
            return Err(invalid("proof was made for another request"));
        }
        if proof.bh != body_hash(body) {
            return Err(invalid("proof was made for another body"));
        }
        if crate::jws::outside_skew(proof.iat, now, skew_seconds) {
            return Err(ProtocolError::Expired);
        }
        Ok(proof)
    }
}

fn strip_scheme(authorization: &str) -> Result<&str, ProtocolError> {
    authorization
        .strip_prefix(AUTH_SCHEME)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| ProtocolError::Malformed(format!("expected `{AUTH_SCHEME} <token>`")))
}
