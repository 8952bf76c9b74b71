"""SQL for the vault (key_server.vault_secrets)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection


class SecretRow(NamedTuple):
    id: uuid.UUID
    owner_kind: str
    owner_id: str
    name: str
    ciphertext: str
    key_id: str
    hint: str
    created_at: datetime
    updated_at: datetime


_COLUMNS = "id, owner_kind, owner_id, name, ciphertext, key_id, hint, created_at, updated_at"


def upsert_secret(
    conn: Connection,
    owner_kind: str,
    owner_id: str,
    name: str,
    ciphertext: str,
    key_id: str,
    hint: str,
    now: datetime,
) -> tuple[SecretRow, bool]:
    """(row, created): a second store under the same name replaces the value."""
    row = conn.execute(
        sa.text(
            "INSERT INTO key_server.vault_secrets "
            "(id, owner_kind, owner_id, name, ciphertext, key_id, hint, created_at, updated_at) "
            "VALUES (:id, :kind, :owner, :name, :ct, :key_id, :hint, :now, :now) "
            "ON CONFLICT (owner_kind, owner_id, name) DO UPDATE SET "
            "ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id, hint = EXCLUDED.hint, "
            "updated_at = EXCLUDED.updated_at "
            f"RETURNING {_COLUMNS}, (xmax = 0) AS inserted"
        ),
        {
            "id": uuid.uuid4(),
            "kind": owner_kind,
            "owner": owner_id,
            "name": name,
            "ct": ciphertext,
            "key_id": key_id,
            "hint": hint,
            "now": now,
        },
    ).one()
    return SecretRow(*row[:-1]), bool(row.inserted)


def get_secret(conn: Connection, owner_kind: str, owner_id: str, name: str) -> SecretRow | None:
    row = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM key_server.vault_secrets "
            "WHERE owner_kind = :kind AND owner_id = :owner AND name = :name"
        ),
        {"kind": owner_kind, "owner": owner_id, "name": name},
    ).first()
    return None if row is None else SecretRow(*row)


def list_secrets(conn: Connection, owner_kind: str, owner_id: str) -> list[SecretRow]:
    rows = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM key_server.vault_secrets "
            "WHERE owner_kind = :kind AND owner_id = :owner ORDER BY name"
        ),
        {"kind": owner_kind, "owner": owner_id},
    ).all()
    return [SecretRow(*r) for r in rows]


def delete_secret(conn: Connection, owner_kind: str, owner_id: str, name: str) -> bool:
    deleted = conn.execute(
        sa.text(
            "DELETE FROM key_server.vault_secrets "
            "WHERE owner_kind = :kind AND owner_id = :owner AND name = :name RETURNING id"
        ),
        {"kind": owner_kind, "owner": owner_id, "name": name},
    ).first()
    return deleted is not None


def count_by_key(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        sa.text("SELECT key_id, count(*) FROM key_server.vault_secrets GROUP BY key_id")
    ).all()
    return {r[0]: int(r[1]) for r in rows}


def lock_rows_under(
    conn: Connection, key_ids: Sequence[str], limit: int, after: uuid.UUID | None = None
) -> list[SecretRow]:
    """Up to `limit` rows sealed by one of `key_ids` (with ids above `after`), locked;
    rows locked by a concurrent rotation are skipped rather than waited for."""
    since = "AND id > :after " if after is not None else ""
    rows = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM key_server.vault_secrets WHERE key_id = ANY(:key_ids) "
            f"{since}ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
        ),
        {"key_ids": list(key_ids), "limit": limit, "after": after},
    ).all()
    return [SecretRow(*r) for r in rows]


def reseal_rows(conn: Connection, updates: Sequence[tuple[uuid.UUID, str, str]]) -> None:
    """(id, ciphertext, key_id) per row; the plaintext and its hint are unchanged."""
    for row_id, ciphertext, key_id in updates:
        conn.execute(
            sa.text(
                "UPDATE key_server.vault_secrets SET ciphertext = :ct, key_id = :key_id "
                "WHERE id = :id"
            ),
            {"id": row_id, "ct": ciphertext, "key_id": key_id},
        )
