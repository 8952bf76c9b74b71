"""RFC 8785 (JCS) canonical JSON for the values receipts and audit rows hold.

Stdlib only: the Confidential VM's import guard admits nothing else here.
Supports str, int (within the IEEE-754 safe range, where JCS's ECMAScript number
form equals the decimal integer), bool, None, lists and dicts with str keys.
Floats are refused outright: money is never a float. A test cross-checks this
against the `rfc8785` package.

The common case (ASCII object keys) is one pass of checks and then the C JSON
encoder, whose output with sorted keys, no spaces and `ensure_ascii=False` is
exactly JCS; non-ASCII keys take the slow path, because JCS orders keys by
UTF-16 code units and Python sorts by code points.
"""

from __future__ import annotations

import json
from typing import Any

_SAFE = 2**53 - 1
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    if _check(value):
        return _ENCODER.encode(value).encode("utf-8")
    return _encode_slow(value).encode("utf-8")


def _check(value: Any) -> bool:
    """Refuse what JCS cannot represent exactly; True when every key is ASCII."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        if not -_SAFE <= value <= _SAFE:
            raise ValueError(f"integer {value} is outside the JSON-safe range")
        return True
    if kind is dict:
        ascii_keys = True
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError("canonical JSON object keys must be strings")
            # Strings and None inline: receipts are flat objects of them, and
            # signing one is on every payment's path.
            leaf = type(item) is str or item is None
            ascii_keys = (leaf or _check(item)) and ascii_keys and key.isascii()
        return ascii_keys
    if kind is list or kind is tuple:
        ascii_keys = True
        for item in value:
            ascii_keys = _check(item) and ascii_keys
        return ascii_keys
    raise TypeError(f"cannot canonicalise {kind.__name__}")


def _encode_slow(value: Any) -> str:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{_ENCODER.encode(k)}:{_encode_slow(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode_slow(v) for v in value) + "]"
    return _ENCODER.encode(value)
