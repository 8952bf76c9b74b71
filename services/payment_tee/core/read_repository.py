"""The core's reads (balances, usage, receipts) on a plain async psycopg connection.

Reads run on the caller's event loop, as postings do (api.py). Through
SQLAlchemy in a worker thread, `GET /v2/me` cost the gateway ~1.5 ms of CPU for
two indexed lookups, most of it the thread hop and the layers around the SQL;
here each read is one statement (scripts/bench/reads.py measures it).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.payment_tee.core.batch_repository import ENTRY_COLUMNS
from services.payment_tee.core.records import AccountBalance
from services.payment_tee.core.tiers import Tier

_ENTRY_SELECT = ", ".join(ENTRY_COLUMNS)

# One row per account in the asset ("main" first), or one row of NULLs for a
# holder with none in it; no row at all when there is no such holder.
HOLDER_ACCOUNTS = (
    "SELECT a.name, a.asset, a.balance FROM ledger.holders h "
    "LEFT JOIN ledger.accounts a ON a.owner_id = h.owner_id AND a.asset = %(asset)s "
    "WHERE h.owner_id = %(owner)s ORDER BY (a.name <> 'main'), a.name"
)
HOLDER_USAGE = (
    "SELECT h.tier, COALESCE(m.transfers, 0) FROM ledger.holders h "
    "LEFT JOIN ledger.monthly_counters m ON m.owner_id = h.owner_id AND m.month = %(month)s "
    "WHERE h.owner_id = %(owner)s"
)


async def holder_accounts(
    conn: psycopg.AsyncConnection[Any], owner_id: uuid.UUID, asset: str
) -> list[AccountBalance] | None:
    """The holder's accounts in `asset`; None when there is no such holder."""
    cur = await conn.execute(HOLDER_ACCOUNTS, {"owner": owner_id, "asset": asset})
    rows = await cur.fetchall()
    if not rows:
        return None
    return [AccountBalance(n, a, bal) for n, a, bal in rows if n is not None]


async def holder_usage(
    conn: psycopg.AsyncConnection[Any], owner_id: uuid.UUID, month: date
) -> tuple[Tier, int] | None:
    """The holder's tier and transfers counted in `month`; None when there is no such holder."""
    cur = await conn.execute(HOLDER_USAGE, {"owner": owner_id, "month": month})
    row = await cur.fetchone()
    return None if row is None else (Tier(row[0]), int(row[1]))


async def history_page(
    conn: psycopg.AsyncConnection[Any],
    owner_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[dict[str, Any]]:
    """Entries where the owner paid or was paid, newest first, keyset-paginated.

    Two index range scans (payer side, payee side) merged; each is bounded by
    the page size, so a deep history costs the same as a shallow one.
    """
    cursor_clause = "AND (created_at, id) < (%(at)s, %(id)s)" if before else ""
    params: dict[str, Any] = {"o": owner_id, "n": limit}
    if before:
        params.update(at=before[0], id=before[1])
    side = (
        f"(SELECT {_ENTRY_SELECT} FROM ledger.entries WHERE {{col}} = %(o)s {cursor_clause} "
        "ORDER BY created_at DESC, id DESC LIMIT %(n)s)"
    )
    sql = (
        f"SELECT DISTINCT ON (created_at, id) * FROM ("
        f"{side.format(col='payer_owner_id')} UNION ALL {side.format(col='payee_owner_id')}"
        ") AS both_sides ORDER BY created_at DESC, id DESC LIMIT %(n)s"
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.encode(), params)
        return await cur.fetchall()
