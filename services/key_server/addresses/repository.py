"""SQL for handed-out addresses (key_server.addresses)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection


class AddressRow(NamedTuple):
    id: uuid.UUID
    chain_id: str
    derivation_index: int
    address: str
    purpose: str
    agent_id: uuid.UUID | None
    created_at: datetime


_COLUMNS = ", ".join(AddressRow._fields)


def insert_address(conn: Connection, row: AddressRow) -> None:
    placeholders = ", ".join(f":{name}" for name in AddressRow._fields)
    conn.execute(
        sa.text(f"INSERT INTO key_server.addresses ({_COLUMNS}) VALUES ({placeholders})"),
        row._asdict(),
    )


def find_address(conn: Connection, chain_id: str, address: str) -> AddressRow | None:
    row = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM key_server.addresses "
            "WHERE chain_id = :chain AND address = :address"
        ),
        {"chain": chain_id, "address": address},
    ).first()
    return None if row is None else AddressRow(*row)


def get_address(conn: Connection, address_id: uuid.UUID) -> AddressRow:
    row = conn.execute(
        sa.text(f"SELECT {_COLUMNS} FROM key_server.addresses WHERE id = :id"), {"id": address_id}
    ).one()
    return AddressRow(*row)


def current_deposit_address(
    conn: Connection, agent_id: uuid.UUID, chain_id: str
) -> AddressRow | None:
    """The agent's newest deposit address on the chain (older ones stay valid)."""
    row = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM key_server.addresses "
            "WHERE agent_id = :agent AND chain_id = :chain AND agent_id IS NOT NULL "
            "ORDER BY derivation_index DESC LIMIT 1"
        ),
        {"agent": agent_id, "chain": chain_id},
    ).first()
    return None if row is None else AddressRow(*row)


def lock_agent_chain(conn: Connection, agent_id: uuid.UUID, chain_id: str) -> None:
    """Serialise "give this agent its address on this chain" until the transaction ends,
    so that two first requests at once create one address, not two."""
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"key_server:deposit-address:{agent_id}:{chain_id}"},
    )
