"""SQL for registered chains (key_server.chains)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection

from services.key_server.derivation import MAX_INDEX


class ChainRow(NamedTuple):
    id: str
    kind: str
    network: str
    asset: str
    confirmations: int
    enabled: bool
    address_type: str
    extended_key: str | None
    public_spend_key: str | None
    key_fingerprint: str
    key_prefix: str | None
    bip32_fingerprint: str | None
    key_depth: int | None
    first_index: int
    next_index: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


_COLUMNS = ", ".join(ChainRow._fields)


class DuplicateChain(Exception):
    """The insert hit a unique constraint: `constraint` says which."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint)
        self.constraint = constraint


def insert_chain(conn: Connection, row: ChainRow) -> None:
    placeholders = ", ".join(f":{name}" for name in ChainRow._fields)
    try:
        with conn.begin_nested():  # a savepoint: the caller's transaction survives
            conn.execute(
                sa.text(f"INSERT INTO key_server.chains ({_COLUMNS}) VALUES ({placeholders})"),
                row._asdict(),
            )
    except sa.exc.IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        raise DuplicateChain(getattr(diag, "constraint_name", None)) from None


def get_chain(conn: Connection, chain_id: str, *, include_deleted: bool = False) -> ChainRow | None:
    deleted = "" if include_deleted else " AND deleted_at IS NULL"
    row = conn.execute(
        sa.text(f"SELECT {_COLUMNS} FROM key_server.chains WHERE id = :id{deleted}"),
        {"id": chain_id},
    ).first()
    return None if row is None else ChainRow(*row)


def chain_id_with_fingerprint(conn: Connection, fingerprint: str) -> str | None:
    found: str | None = conn.execute(
        sa.text("SELECT id FROM key_server.chains WHERE key_fingerprint = :f"), {"f": fingerprint}
    ).scalar()
    return found


def list_chains(conn: Connection, *, include_deleted: bool) -> list[ChainRow]:
    where = "" if include_deleted else " WHERE deleted_at IS NULL"
    rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM key_server.chains{where} ORDER BY id"))
    return [ChainRow(*r) for r in rows]


def update_chain(
    conn: Connection, chain_id: str, changes: dict[str, Any], now: datetime
) -> ChainRow | None:
    """Set the given columns (names from the caller's fixed set, never from input)."""
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    row = conn.execute(
        sa.text(
            f"UPDATE key_server.chains SET {assignments}, updated_at = :now "
            f"WHERE id = :id AND deleted_at IS NULL RETURNING {_COLUMNS}"
        ),
        {**changes, "id": chain_id, "now": now},
    ).first()
    return None if row is None else ChainRow(*row)


def soft_delete_chain(conn: Connection, chain_id: str, now: datetime) -> bool:
    row = conn.execute(
        sa.text(
            "UPDATE key_server.chains SET deleted_at = :now, enabled = false, updated_at = :now "
            "WHERE id = :id AND deleted_at IS NULL RETURNING id"
        ),
        {"id": chain_id, "now": now},
    ).first()
    return row is not None


def take_next_index(conn: Connection, chain_id: str) -> int | None:
    """The chain's next derivation index, consumed; None when none is left.

    The UPDATE holds the chain row's lock until the caller's transaction ends,
    so allocations on one chain are serialised and a rolled-back allocation
    gives its index back: the sequence has no gaps and no repeats.
    """
    index: int | None = conn.execute(
        sa.text(
            "UPDATE key_server.chains SET next_index = next_index + 1 "
            "WHERE id = :id AND next_index <= :max RETURNING next_index - 1"
        ),
        {"id": chain_id, "max": MAX_INDEX},
    ).scalar()
    return index
