"""Schemathesis hooks for `cargo xtask test apifuzz`: sign device request proofs.

Device API calls carry `Authorization: Tapprove <jws>`, an ES256 proof over the method, the
path, a hash of the exact body bytes and the time (docs/PROTOCOL.md §5). A static header cannot
be that, so the proof is made by a `requests` auth object, which runs on the prepared request:
after schemathesis has serialised the body, so the hash covers the bytes actually sent.

Only a request that schemathesis meant to authenticate (it carries the placeholder the
generated config gives the `deviceProof` scheme) is signed: the `ignored_auth` check sends the
same call without it and must see `401`. Long-polls are capped at 1 s (`map_query`).

Environment (set by server/tests/apifuzz.rs): TAPPROVE_FUZZ_ACCOUNT (the paired test device's
account id), TAPPROVE_FUZZ_KEY (its PKCS#8 private key, base64).
"""

import base64
import hashlib
import json
import os
import secrets
import time
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PLACEHOLDER = "Tapprove fuzz-placeholder"
ACCOUNT = os.environ["TAPPROVE_FUZZ_ACCOUNT"]
KEY = serialization.load_der_private_key(base64.b64decode(os.environ["TAPPROVE_FUZZ_KEY"]), None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def proof(method: str, path: str, body: bytes) -> str:
    header = {"alg": "ES256", "typ": "tapprove-request+jwt", "kid": ACCOUNT}
    claims = {
        "ver": 1,
        "account_id": ACCOUNT,
        "htm": method.upper(),
        "htp": path,
        "bh": b64url(hashlib.sha256(body).digest()),
        "iat": int(time.time()),
        "jti": secrets.token_urlsafe(16),
    }
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    der = KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return "Tapprove " + signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class DeviceProof(requests.auth.AuthBase):
    def __call__(self, r):
        if r.headers.get("Authorization") == PLACEHOLDER:
            body = r.body or b""
            if isinstance(body, str):
                body = body.encode()
            r.headers["Authorization"] = proof(r.method, urlsplit(r.url).path, body)
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = DeviceProof()


# Long-polls capped: once the fuzzer has a real session id (from its own creates), `wait=N`
# holds the answer up to N seconds (the service clamps at 30), past the request timeout.
MAX_WAIT = 1


@schemathesis.hook
def map_query(context, query):
    wait = query.get("wait") if isinstance(query, dict) else None
    if isinstance(wait, int) and not isinstance(wait, bool) and wait > MAX_WAIT:
        query["wait"] = MAX_WAIT
    return query
