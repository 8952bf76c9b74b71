"""SQL for quotes and upgrade requests (the idempotency record of an upgrade)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.billing.dbtypes import Conn, columns, insert_sql, params


@dataclass(frozen=True)
class Quote:
    id: uuid.UUID
    agent_id: uuid.UUID
    plan_code: str
    from_plan_code: str
    kind: str
    subscription_id: uuid.UUID | None
    cycle: int | None
    usd_cents: int
    asset: str
    amount_minor: int
    rate_value: Decimal
    rate_source: str
    rate_fetched_at: datetime
    rate_stale: bool
    period_start: datetime
    period_end: datetime
    covered_seconds: int
    level_from_usd_cents: int
    level_to_usd_cents: int
    next_renewal_usd_cents: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class UpgradeRequest:
    agent_id: uuid.UUID
    idempotency_key: str
    request_hash: bytes
    quote_id: uuid.UUID
    invoice_id: uuid.UUID
    response: dict[str, Any] | None
    created_at: datetime
    completed_at: datetime | None
    pay_with: str = "balance"  # or "crypto": answered 202, paid by a key-server charge


_QUOTE_COLUMNS = ", ".join(columns(Quote))
_REQUEST_COLUMNS = ", ".join(columns(UpgradeRequest))


async def insert_quote(conn: Conn, quote: Quote) -> None:
    await conn.execute(insert_sql("billing.quotes", Quote), params(quote))


async def get_quote(conn: Conn, quote_id: uuid.UUID) -> Quote | None:
    async with conn.cursor(row_factory=class_row(Quote)) as cur:
        await cur.execute(f"SELECT {_QUOTE_COLUMNS} FROM billing.quotes WHERE id = %s", (quote_id,))
        return await cur.fetchone()


async def use_quote(conn: Conn, quote_id: uuid.UUID, now: datetime) -> bool:
    """Mark a quote used; False when it already was (a quote buys one upgrade)."""
    cur = await conn.execute(
        "UPDATE billing.quotes SET used_at = %s WHERE id = %s AND used_at IS NULL",
        (now, quote_id),
    )
    return cur.rowcount == 1


async def release_quote(conn: Conn, quote_id: uuid.UUID) -> None:
    await conn.execute("UPDATE billing.quotes SET used_at = NULL WHERE id = %s", (quote_id,))


async def insert_request(conn: Conn, request: UpgradeRequest) -> None:
    await conn.execute(insert_sql("billing.upgrade_requests", UpgradeRequest), params(request))


async def get_request(conn: Conn, agent_id: uuid.UUID, key: str) -> UpgradeRequest | None:
    async with conn.cursor(row_factory=class_row(UpgradeRequest)) as cur:
        await cur.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM billing.upgrade_requests "
            "WHERE agent_id = %s AND idempotency_key = %s",
            (agent_id, key),
        )
        return await cur.fetchone()


async def pending_requests(conn: Conn, agent_id: uuid.UUID) -> list[UpgradeRequest]:
    async with conn.cursor(row_factory=class_row(UpgradeRequest)) as cur:
        await cur.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM billing.upgrade_requests "
            "WHERE agent_id = %s AND completed_at IS NULL ORDER BY created_at",
            (agent_id,),
        )
        return await cur.fetchall()


async def complete_request(
    conn: Conn, agent_id: uuid.UUID, key: str, response: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        "UPDATE billing.upgrade_requests SET response = %s, completed_at = %s "
        "WHERE agent_id = %s AND idempotency_key = %s",
        (Jsonb(response), now, agent_id, key),
    )


async def delete_request(conn: Conn, agent_id: uuid.UUID, key: str) -> None:
    """A refused upgrade leaves nothing behind: the key may be used again."""
    await conn.execute(
        "DELETE FROM billing.upgrade_requests WHERE agent_id = %s AND idempotency_key = %s",
        (agent_id, key),
    )


async def agents_with_pending_intents(conn: Conn, limit: int) -> list[uuid.UUID]:
    """Agents whose upgrade or downgrade stopped between its two transactions."""
    cur = await conn.execute(
        "SELECT agent_id FROM billing.upgrade_requests WHERE completed_at IS NULL "
        "UNION SELECT agent_id FROM billing.downgrades WHERE status = 'pending' LIMIT %s",
        (limit,),
    )
    return [row[0] for row in await cur.fetchall()]
