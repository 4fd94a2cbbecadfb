"""Independent checks of the service's Web Push output: Python's http_ece decrypts the body
(RFC 8291 aes128gcm) with the subscription's private key, and py_vapid verifies the VAPID
Authorization header (RFC 8292). Reads the JSON case file the Rust test wrote; prints the
plaintext on success, exits non-zero with the reason otherwise."""

import base64
import json
import sys
import time

import http_ece
import py_vapid
from cryptography.hazmat.primitives.asymmetric import ec


def b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main(path):
    case = json.load(open(path))
    private = ec.derive_private_key(
        int.from_bytes(b64(case["private_key"]), "big"), ec.SECP256R1()
    )
    plaintext = http_ece.decrypt(
        b64(case["body"]),
        private_key=private,
        auth_secret=b64(case["auth"]),
        version="aes128gcm",
    )
    assert plaintext == case["expected_plaintext"].encode(), plaintext

    authorization = case["authorization"]
    if not py_vapid.Vapid02.verify(authorization):
        sys.exit("py_vapid: the VAPID signature does not verify")
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    claims = json.loads(b64(token.split(".")[1]))
    assert claims["aud"] == case["aud"], claims
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
    assert claims["sub"].startswith("mailto:") or claims["sub"].startswith("https://"), claims
    print(plaintext.decode())


if __name__ == "__main__":
    main(sys.argv[1])
