"""SQL for immediate downgrades and the refunds they give back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.billing.dbtypes import Conn, columns, insert_sql, params, update_sql

PENDING = "pending"
APPLIED = "applied"
POSTED = "posted"


@dataclass(frozen=True)
class Downgrade:
    id: uuid.UUID
    agent_id: uuid.UUID
    subscription_id: uuid.UUID
    from_plan_code: str
    to_plan_code: str
    status: str
    created_at: datetime
    applied_at: datetime | None
    idempotency_key: str | None = None
    request_hash: bytes | None = None
    response: dict[str, Any] | None = None  # the answer, once applied (for replays)


@dataclass(frozen=True)
class Refund:
    id: uuid.UUID
    downgrade_id: uuid.UUID
    invoice_id: uuid.UUID
    agent_id: uuid.UUID
    usd_cents: int
    asset: str
    amount_minor: int
    level_top_before: int
    level_top_after: int
    status: str
    receipt: dict[str, Any] | None
    created_at: datetime
    posted_at: datetime | None


async def insert_downgrade(conn: Conn, downgrade: Downgrade, refunds: list[Refund]) -> None:
    await conn.execute(insert_sql("billing.downgrades", Downgrade), params(downgrade))
    for refund in refunds:
        await conn.execute(insert_sql("billing.refunds", Refund), params(refund))


async def get_downgrade(conn: Conn, downgrade_id: uuid.UUID) -> Downgrade | None:
    async with conn.cursor(row_factory=class_row(Downgrade)) as cur:
        await cur.execute(
            f"SELECT {', '.join(columns(Downgrade))} FROM billing.downgrades WHERE id = %s",
            (downgrade_id,),
        )
        return await cur.fetchone()


async def get_by_key(conn: Conn, agent_id: uuid.UUID, key: str) -> Downgrade | None:
    async with conn.cursor(row_factory=class_row(Downgrade)) as cur:
        await cur.execute(
            f"SELECT {', '.join(columns(Downgrade))} FROM billing.downgrades "
            "WHERE agent_id = %s AND idempotency_key = %s",
            (agent_id, key),
        )
        return await cur.fetchone()


async def pending_downgrades(conn: Conn, agent_id: uuid.UUID) -> list[Downgrade]:
    async with conn.cursor(row_factory=class_row(Downgrade)) as cur:
        await cur.execute(
            f"SELECT {', '.join(columns(Downgrade))} FROM billing.downgrades "
            "WHERE agent_id = %s AND status = 'pending' ORDER BY created_at",
            (agent_id,),
        )
        return await cur.fetchall()


async def refunds_of(conn: Conn, downgrade_id: uuid.UUID) -> list[Refund]:
    async with conn.cursor(row_factory=class_row(Refund)) as cur:
        await cur.execute(
            f"SELECT {', '.join(columns(Refund))} FROM billing.refunds "
            "WHERE downgrade_id = %s ORDER BY amount_minor DESC, id",
            (downgrade_id,),
        )
        return await cur.fetchall()


async def update_refund(conn: Conn, refund: Refund) -> None:
    await conn.execute(update_sql("billing.refunds", Refund), params(refund))


async def mark_applied(
    conn: Conn, downgrade_id: uuid.UUID, now: datetime, response: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE billing.downgrades SET status = 'applied', applied_at = %s, response = %s "
        "WHERE id = %s",
        (now, Jsonb(response), downgrade_id),
    )
