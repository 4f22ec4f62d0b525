"""API key material: generation, hashing and display prefixes.

A key is ``cs_live_<32 hex>`` (``cs_test_`` for test keys). Only its SHA-256 and a display
prefix are stored. The prefix carries 12 hex characters (48 bits) after the kind marker, so
that collisions stay out of reach for any realistic number of keys; the database enforces
uniqueness anyway and creation retries on a clash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

KEY_PATTERN = re.compile(r"^cs_(live|test)_[0-9a-f]{32}$")
PREFIX_HEX = 12


@dataclass(frozen=True)
class NewKey:
    secret: str
    prefix: str
    digest: str


def generate_key(*, test: bool = False) -> NewKey:
    """A fresh random key with its prefix and hash."""
    secret = f"cs_{'test' if test else 'live'}_{secrets.token_hex(16)}"
    return NewKey(secret=secret, prefix=display_prefix(secret), digest=hash_key(secret))


def hash_key(secret: str) -> str:
    """Hex SHA-256: the key has 128 random bits, so a slow KDF would add latency, not safety."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """The part of a key that is stored and shown: the kind marker and 12 hex characters."""
    kind_end = len("cs_live_")
    return secret[: kind_end + PREFIX_HEX]


def looks_like_key(value: str) -> bool:
    """Cheap shape check so malformed keys are refused without a database round trip."""
    return bool(KEY_PATTERN.match(value))
