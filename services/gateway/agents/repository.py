"""SQL for agents and their API keys (gateway schema)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError


class NameTaken(Exception):
    pass


def insert_agent(conn: Connection, agent_id: uuid.UUID, name: str, now: datetime) -> None:
    try:
        with conn.begin_nested():
            conn.execute(
                sa.text(
                    "INSERT INTO gateway.agents (id, name, created_at) VALUES (:id, :name, :now)"
                ),
                {"id": agent_id, "name": name, "now": now},
            )
    except IntegrityError as exc:
        if "uq_agents_lower_name" in str(exc.orig):
            raise NameTaken(name) from None
        raise


def insert_api_key(
    conn: Connection, agent_id: uuid.UUID, key_hash: bytes, prefix: str, now: datetime
) -> uuid.UUID:
    key_id = uuid.uuid4()
    conn.execute(
        sa.text(
            "INSERT INTO gateway.api_keys (id, agent_id, key_hash, prefix, created_at) "
            "VALUES (:id, :agent, :hash, :prefix, :now)"
        ),
        {"id": key_id, "agent": agent_id, "hash": key_hash, "prefix": prefix, "now": now},
    )
    return key_id


def agent_by_key_hash(
    conn: Connection, key_hash: bytes
) -> Row[tuple[uuid.UUID, str, datetime, bytes]] | None:
    return conn.execute(
        sa.text(
            "SELECT a.id, a.name, a.created_at, k.key_hash FROM gateway.api_keys k "
            "JOIN gateway.agents a ON a.id = k.agent_id "
            "WHERE k.key_hash = :h AND k.revoked_at IS NULL"
        ),
        {"h": key_hash},
    ).first()  # type: ignore[return-value]


def agent_by_id(
    conn: Connection, agent_id: uuid.UUID
) -> Row[tuple[uuid.UUID, str, datetime]] | None:
    return conn.execute(
        sa.text("SELECT id, name, created_at FROM gateway.agents WHERE id = :id"), {"id": agent_id}
    ).first()  # type: ignore[return-value]


def agent_by_name(conn: Connection, name: str) -> Row[tuple[uuid.UUID, str, datetime]] | None:
    return conn.execute(
        sa.text("SELECT id, name, created_at FROM gateway.agents WHERE lower(name) = lower(:n)"),
        {"n": name},
    ).first()  # type: ignore[return-value]
