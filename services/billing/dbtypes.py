"""The connection type every billing repository takes (psycopg 3, async), and helpers
that turn record dataclasses into column lists and parameters."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

Conn = psycopg.AsyncConnection[Any]


def columns(record_type: type) -> list[str]:
    """The column names of a record dataclass, in declaration order."""
    return [f.name for f in dataclasses.fields(record_type)]


def params(record: object) -> dict[str, Any]:
    """A record dataclass as query parameters; dicts become JSONB."""
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]
    return {k: Jsonb(v) if isinstance(v, dict) else v for k, v in values.items()}


def insert_sql(table: str, record_type: type) -> str:
    cols = columns(record_type)
    placeholders = ", ".join(f"%({c})s" for c in cols)
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders})"  # noqa: S608


def update_sql(table: str, record_type: type, key: str = "id") -> str:
    sets = ", ".join(f"{c} = %({c})s" for c in columns(record_type) if c != key)
    return f"UPDATE {table} SET {sets} WHERE {key} = %({key})s"  # noqa: S608
