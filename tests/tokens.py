"""Tokens a forger would make, which PyJWT itself refuses to make."""

import base64
import hashlib
import hmac
import json
from typing import Any


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_signed(claims: dict[str, Any], secret: bytes) -> str:
    """`claims` signed with HS256 and `secret`, e.g. the public key's PEM: the trick that fools a
    verifier which takes the algorithm from the token and the public key as an HMAC secret."""
    header = _segment(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _segment(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_segment(signature)}"


def unsigned(claims: dict[str, Any]) -> str:
    """`claims` with `alg: none` and no signature."""
    header = _segment(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_segment(json.dumps(claims).encode())}."
