"""SQL literals for the batch engine's hot path, built without a driver round trip
through psycopg's adapters.

The batch statements are prepared once per connection (`PREPARE`) and called
with `EXECUTE name(literal, ...)` inside one simple-protocol query, so that a
round trip is one driver call (batch_repository.py says why). Every value that
reaches SQL text goes through one of these functions, and each only emits what
its type can hold:

- strings, including JSON documents, as standard-conforming string literals:
  single quotes doubled, nothing else special (the connection pins
  `standard_conforming_strings=on`); a NUL byte, which no literal can carry, is
  refused;
- UUIDs, integers and hex digests, which contain no quote at all, in array
  literals of their own types;
- enumerated words (tiers) only when they are plain lowercase identifiers.

Anything else raises TypeError or ValueError before any SQL is sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date, datetime

_WORD = re.compile(r"[a-z][a-z_]*")


def text(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("a SQL literal cannot carry a NUL character")
    return "'" + value.replace("'", "''") + "'"


def uuid_array(values: Iterable[uuid.UUID]) -> str:
    parts = []
    for value in values:
        if not isinstance(value, uuid.UUID):
            raise TypeError(f"expected UUID, got {type(value).__name__}")
        parts.append(str(value))
    return "'{" + ",".join(parts) + "}'"


def int_array(values: Iterable[int | None]) -> str:
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(value))
        else:
            raise TypeError(f"expected int, got {type(value).__name__}")
    return "'{" + ",".join(parts) + "}'"


def hex_array(values: Iterable[bytes | None]) -> str:
    """bytes as hex text (decoded with decode(x, 'hex') in SQL)."""
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
        elif isinstance(value, bytes):
            parts.append(value.hex())
        else:
            raise TypeError(f"expected bytes, got {type(value).__name__}")
    return "'{" + ",".join(parts) + "}'"


def word_array(values: Iterable[str]) -> str:
    parts = []
    for value in values:
        if not isinstance(value, str) or not _WORD.fullmatch(value):
            raise ValueError(f"not a plain lowercase word: {value!r}")
        parts.append(value)
    return "'{" + ",".join(parts) + "}'"


def day(value: date) -> str:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected date, got {type(value).__name__}")
    return "'" + value.isoformat() + "'"


def instant(value: datetime) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError("expected an aware datetime")
    return "'" + value.isoformat() + "'"
