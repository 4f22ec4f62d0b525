"""Standard Webhooks 1.0 signatures: ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``
keyed by the secret ``whsec_<base64>``. Written by hand because it is four lines; the tests
check it with the ``standardwebhooks`` library, as receivers will."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 24  # 192 bits: within the 24-64 bytes the specification recommends


def new_secret() -> str:
    """A fresh signing secret, as shown once to the tenant."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,`` entry of the ``webhook-signature`` header."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secrets_in_use: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret (the new one first, then
    during a rotation the old one), space-separated, so a receiver with either verifies."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_use),
    }
