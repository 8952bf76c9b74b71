"""SQL for outputs reported by chain watchers (key_server.chain_outputs)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection


class OutputRow(NamedTuple):
    id: uuid.UUID
    chain_id: str
    txid: str
    output_index: int
    address: str
    address_id: uuid.UUID | None
    amount: int
    confirmations: int
    watcher_id: str
    first_seen_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None


_COLUMNS = ", ".join(OutputRow._fields)


def insert_output(conn: Connection, row: OutputRow) -> bool:
    """False when (chain, txid, output) is already recorded.

    A concurrent insert of the same output waits for the other transaction
    and then does nothing, so racing duplicates record one row.
    """
    placeholders = ", ".join(f":{name}" for name in OutputRow._fields)
    inserted = conn.execute(
        sa.text(
            f"INSERT INTO key_server.chain_outputs ({_COLUMNS}) VALUES ({placeholders}) "
            "ON CONFLICT (chain_id, txid, output_index) DO NOTHING RETURNING id"
        ),
        row._asdict(),
    ).first()
    return inserted is not None


def lock_output(conn: Connection, chain_id: str, txid: str, output_index: int) -> OutputRow:
    row = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM key_server.chain_outputs "
            "WHERE chain_id = :chain AND txid = :txid AND output_index = :idx FOR UPDATE"
        ),
        {"chain": chain_id, "txid": txid, "idx": output_index},
    ).one()
    return OutputRow(*row)


def update_output(
    conn: Connection,
    output_id: uuid.UUID,
    confirmations: int,
    confirmed_at: datetime | None,
    now: datetime,
) -> OutputRow:
    row = conn.execute(
        sa.text(
            "UPDATE key_server.chain_outputs SET confirmations = :confs, "
            "confirmed_at = :confirmed_at, updated_at = :now "
            f"WHERE id = :id RETURNING {_COLUMNS}"
        ),
        {"id": output_id, "confs": confirmations, "confirmed_at": confirmed_at, "now": now},
    ).one()
    return OutputRow(*row)


def outputs_for_address(conn: Connection, address_id: uuid.UUID) -> list[OutputRow]:
    rows = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM key_server.chain_outputs WHERE address_id = :address "
            "ORDER BY first_seen_at, txid, output_index"
        ),
        {"address": address_id},
    ).all()
    return [OutputRow(*r) for r in rows]


def get_output(conn: Connection, output_id: uuid.UUID) -> OutputRow:
    row = conn.execute(
        sa.text(f"SELECT {_COLUMNS} FROM key_server.chain_outputs WHERE id = :id"),
        {"id": output_id},
    ).one()
    return OutputRow(*row)
