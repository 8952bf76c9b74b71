"""Identifiers.

UUIDv7 (RFC 9562): time-ordered, so new journal entries land at the right end
of their primary-key index instead of splitting random pages.

They are also monotonic within a process (RFC 9562 section 6.2, method 2:
"monotonic random"): ids made in the same millisecond increase by a random
step instead of being random among themselves. A batch stamps all its
postings with one `created_at`, and history pages newest first by
(`created_at`, `id`): the ids alone must then keep the postings' order.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

# An idempotency key, as every service takes it (the HTTP header, the payment
# core's commands, the key server's charges): printable ASCII, no spaces, long
# enough to be unique per intended request and short enough to index.
IDEMPOTENCY_KEY_RULE = "8-255 printable ASCII characters without spaces"
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{8,255}")

_RAND_BITS = 74  # 12 bits of rand_a and 62 of rand_b
_RAND_LIMIT = 1 << _RAND_BITS
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def uuid7() -> uuid.UUID:
    unix_ms, rand = _next()
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) << 64  # 12 bits rand_a
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # 62 bits rand_b
    return uuid.UUID(int=value)


def _next() -> tuple[int, int]:
    """(milliseconds, 74 random bits), each pair above the one before it."""
    global _last_ms, _last_rand
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms, _last_rand = now_ms, _fresh()
        else:  # same millisecond, or the clock stepped back: step up from the last id
            _last_rand += 1 + int.from_bytes(os.urandom(4), "big")
            if _last_rand >= _RAND_LIMIT:  # spent (not in practice): borrow the next ms
                _last_ms, _last_rand = _last_ms + 1, _fresh()
        return _last_ms, _last_rand


def _fresh() -> int:
    # The top bit starts clear so that increments have room (RFC 9562 6.2).
    return int.from_bytes(os.urandom(10), "big") >> (80 - _RAND_BITS + 1)


def is_idempotency_key(value: object) -> bool:
    """Whether `value` is a well-formed idempotency key. The whole string must
    match: `$` would also accept a key followed by a newline."""
    return isinstance(value, str) and _IDEMPOTENCY_KEY.fullmatch(value) is not None
