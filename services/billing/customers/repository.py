"""SQL for customers (billing's record of each agent's tier) and the agent lock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from services.billing.dbtypes import Conn


@dataclass(frozen=True)
class Customer:
    agent_id: uuid.UUID
    tier: str
    created_at: datetime
    updated_at: datetime


async def lock_agent(conn: Conn, key: int) -> None:
    await conn.execute("SELECT pg_advisory_lock(%s)", (key,))


async def try_lock_agent(conn: Conn, key: int) -> bool:
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def unlock_agent(conn: Conn, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


async def get_customer(conn: Conn, agent_id: uuid.UUID) -> Customer | None:
    async with conn.cursor(row_factory=class_row(Customer)) as cur:
        await cur.execute(
            "SELECT agent_id, tier, created_at, updated_at FROM billing.customers "
            "WHERE agent_id = %s",
            (agent_id,),
        )
        return await cur.fetchone()


async def ensure_customer(
    conn: Conn, agent_id: uuid.UUID, initial_tier: str, now: datetime
) -> Customer:
    """The customer row, created with `initial_tier` on first sight."""
    await conn.execute(
        "INSERT INTO billing.customers (agent_id, tier, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (agent_id) DO NOTHING",
        (agent_id, initial_tier, now, now),
    )
    found = await get_customer(conn, agent_id)
    assert found is not None
    return found


async def set_tier(conn: Conn, agent_id: uuid.UUID, tier: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE billing.customers SET tier = %s, updated_at = %s WHERE agent_id = %s",
        (tier, now, agent_id),
    )
