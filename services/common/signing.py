"""Signed requests between Sealpay services (DESIGN.md, "Signed inbound events").

    X-Sealpay-Key-Id:    which shared secret signed it
    X-Sealpay-Timestamp: unix seconds when it was signed (accepted within 300 s)
    X-Sealpay-Signature: hex HMAC-SHA256(secret, timestamp + "." + raw body)

Chain watchers sign the events they post to the key server; the key server
signs the charge callbacks it posts to billing (key id `key_server`, secret
`SEALPAY_CALLBACK_SECRET`). The receiver verifies the raw body bytes it
received, before parsing them. Binding the timestamp into the MAC stops an old
body being replayed under a fresh timestamp; the window bounds how long a
captured request stays replayable, so receivers must also be idempotent.

Standard library only, so that any service (or a watcher outside this
repository) can copy or import it without pulling in the key server.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

KEY_ID_HEADER = "X-Sealpay-Key-Id"
TIMESTAMP_HEADER = "X-Sealpay-Timestamp"
SIGNATURE_HEADER = "X-Sealpay-Signature"
TOLERANCE_SECONDS = 300

_MAX_TIMESTAMP_DIGITS = 12
_SIGNATURE_HEX_LEN = 64
_HEX_DIGITS = frozenset("0123456789abcdef")
# Verification against a key nobody has costs the same as against a real one.
_DECOY_SECRET = b"sealpay-signing-decoy-secret-never-valid"


class SignatureError(Exception):
    """The request is not signed by a known key within the window.

    `reason` is for logs; callers answer every reason the same way (401
    `bad_signature`) so that a prober learns nothing about which part failed.
    """

    code = "bad_signature"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def compute_signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over `timestamp + "." + body`."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(
    key_id: str, secret: str | bytes, body: bytes, now: datetime | float
) -> dict[str, str]:
    """The three headers that sign `body` at `now`."""
    timestamp = str(int(_unix(now)))
    return {
        KEY_ID_HEADER: key_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: compute_signature(secret, timestamp, body),
    }


def verify_signed_request(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str | bytes],
    now: datetime | float,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> str:
    """The key id that signed this request, or `SignatureError`.

    `headers` may be any mapping (header names are matched case-insensitively);
    `body` is the raw bytes as received; `secrets` maps key ids to their
    shared secrets; `now` is a timezone-aware datetime or unix seconds.
    The signature is compared in constant time.
    """
    key_id = header_value(headers, KEY_ID_HEADER)
    timestamp = header_value(headers, TIMESTAMP_HEADER)
    signature = header_value(headers, SIGNATURE_HEADER)
    if not key_id or not timestamp or not signature:
        raise SignatureError("missing signature headers")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError("the timestamp is not unix seconds")
    if abs(_unix(now) - int(timestamp)) > tolerance_seconds:
        raise SignatureError("the timestamp is outside the accepted window")
    given = signature.strip().lower()
    well_formed = len(given) == _SIGNATURE_HEX_LEN and set(given) <= _HEX_DIGITS
    secret = secrets.get(key_id)
    expected = compute_signature(secret if secret is not None else _DECOY_SECRET, timestamp, body)
    matches = hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))
    if secret is None:
        raise SignatureError("unknown key id")
    if not (well_formed and matches):
        raise SignatureError("the signature does not match")
    return key_id


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


def _unix(now: datetime | float) -> float:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.timestamp()
    return float(now)
