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
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

_WORD = re.compile(r"[a-z][a-z_]*")


def text(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("a SQL literal cannot carry a NUL character")
    return "'" + value.replace("'", "''") + "'"


def uuid_array(values: Iterable[uuid.UUID]) -> str:
    return _array(values, _uuid, nulls=False)


def int_array(values: Iterable[int | None]) -> str:
    return _array(values, _int, nulls=True)


def hex_array(values: Iterable[bytes | None]) -> str:
    """bytes as hex text (decoded with decode(x, 'hex') in SQL)."""
    return _array(values, _hex, nulls=True)


def word_array(values: Iterable[str]) -> str:
    return _array(values, _word, nulls=False)


def _array(values: Iterable[Any], render: Callable[[Any], str], *, nulls: bool) -> str:
    """An array literal whose elements `render` wrote; none can hold a quote,
    brace, comma or backslash, so no element needs array quoting."""
    parts = []
    for value in values:
        if value is None and nulls:
            parts.append("NULL")
        else:
            parts.append(render(value))
    return "'{" + ",".join(parts) + "}'"


def _uuid(value: object) -> str:
    if not isinstance(value, uuid.UUID):
        raise TypeError(f"expected UUID, got {type(value).__name__}")
    return str(value)


def _int(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected int, got {type(value).__name__}")
    return str(value)


def _hex(value: object) -> str:
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return value.hex()


def _word(value: object) -> str:
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise ValueError(f"not a plain lowercase word: {value!r}")
    return value


def day(value: date) -> str:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected date, got {type(value).__name__}")
    return "'" + value.isoformat() + "'"


def instant(value: datetime) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError("expected an aware datetime")
    return "'" + value.isoformat() + "'"
