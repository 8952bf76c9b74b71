"""SQL for subscriptions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from services.billing.dbtypes import Conn, columns, insert_sql, params, update_sql

ACTIVE = "active"
PAST_DUE = "past_due"
LAPSED = "lapsed"
CANCELLED = "cancelled"
LIVE = (ACTIVE, PAST_DUE)


@dataclass(frozen=True)
class Subscription:
    id: uuid.UUID
    agent_id: uuid.UUID
    plan_code: str
    status: str
    anchor_at: datetime
    cycle: int
    current_period_start: datetime
    current_period_end: datetime
    period_price_usd_cents: int
    scheduled_plan_code: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    grace_until: datetime | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None

    @property
    def live(self) -> bool:
        return self.status in LIVE


_COLUMNS = ", ".join(columns(Subscription))
_INSERT = insert_sql("billing.subscriptions", Subscription)
_UPDATE = update_sql("billing.subscriptions", Subscription)


async def insert(conn: Conn, sub: Subscription) -> None:
    await conn.execute(_INSERT, params(sub))


async def update(conn: Conn, sub: Subscription) -> None:
    await conn.execute(_UPDATE, params(sub))


async def get(conn: Conn, subscription_id: uuid.UUID) -> Subscription | None:
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.subscriptions WHERE id = %s", (subscription_id,)
        )
        return await cur.fetchone()


async def get_live(conn: Conn, agent_id: uuid.UUID) -> Subscription | None:
    """The agent's active or past-due subscription (at most one: a unique index)."""
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.subscriptions "
            "WHERE agent_id = %s AND status IN ('active', 'past_due')",
            (agent_id,),
        )
        return await cur.fetchone()


async def get_latest(conn: Conn, agent_id: uuid.UUID) -> Subscription | None:
    """The live subscription, else the most recent one."""
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.subscriptions WHERE agent_id = %s "
            "ORDER BY status IN ('active', 'past_due') DESC, created_at DESC, id DESC LIMIT 1",
            (agent_id,),
        )
        return await cur.fetchone()


async def due_agent_ids(conn: Conn, at: datetime, limit: int) -> list[uuid.UUID]:
    """Agents with a subscription to renew, retry or lapse at `at`."""
    cur = await conn.execute(
        "SELECT agent_id FROM billing.subscriptions "
        "WHERE status = 'active' AND current_period_end <= %(at)s "
        "UNION SELECT agent_id FROM billing.subscriptions "
        "WHERE status = 'past_due' AND (next_attempt_at <= %(at)s OR grace_until <= %(at)s) "
        "LIMIT %(limit)s",
        {"at": at, "limit": limit},
    )
    return [row[0] for row in await cur.fetchall()]
