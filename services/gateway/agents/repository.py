"""SQL for agents and their API keys (gateway schema), on an async psycopg pool.

Async because two of these run on the hot path of every payment (who is
calling, who is being paid): on the event loop they cost one round trip and
no thread handoff.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

import psycopg


class NameTaken(Exception):
    pass


class AgentRow(NamedTuple):
    id: uuid.UUID
    name: str
    created_at: datetime


async def insert_agent(
    conn: psycopg.AsyncConnection[Any], agent_id: uuid.UUID, name: str, now: datetime
) -> None:
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives
            await conn.execute(
                "INSERT INTO gateway.agents (id, name, created_at) VALUES (%s, %s, %s)",
                (agent_id, name, now),
            )
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "uq_agents_lower_name":
            raise NameTaken(name) from None
        raise


async def insert_api_key(
    conn: psycopg.AsyncConnection[Any],
    agent_id: uuid.UUID,
    key_hash: bytes,
    prefix: str,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO gateway.api_keys (id, agent_id, key_hash, prefix, created_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (uuid.uuid4(), agent_id, key_hash, prefix, now),
    )


async def agent_by_key_hash(
    conn: psycopg.AsyncConnection[Any], key_hash: bytes
) -> tuple[AgentRow, bytes] | None:
    cur = await conn.execute(
        "SELECT a.id, a.name, a.created_at, k.key_hash FROM gateway.api_keys k "
        "JOIN gateway.agents a ON a.id = k.agent_id "
        "WHERE k.key_hash = %s AND k.revoked_at IS NULL",
        (key_hash,),
    )
    row = await cur.fetchone()
    return None if row is None else (AgentRow(row[0], row[1], row[2]), bytes(row[3]))


async def agent_by_id(conn: psycopg.AsyncConnection[Any], agent_id: uuid.UUID) -> AgentRow | None:
    cur = await conn.execute(
        "SELECT id, name, created_at FROM gateway.agents WHERE id = %s", (agent_id,)
    )
    row = await cur.fetchone()
    return None if row is None else AgentRow(row[0], row[1], row[2])


async def agent_by_name(conn: psycopg.AsyncConnection[Any], name: str) -> AgentRow | None:
    cur = await conn.execute(
        "SELECT id, name, created_at FROM gateway.agents WHERE lower(name) = lower(%s)", (name,)
    )
    row = await cur.fetchone()
    return None if row is None else AgentRow(row[0], row[1], row[2])
