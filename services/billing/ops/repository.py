"""SQL for readiness."""

from __future__ import annotations

from services.billing.dbtypes import Conn


async def readiness(conn: Conn) -> tuple[int, bool]:
    """(plans configured, whether procrastinate's tables exist)."""
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM billing.plans), "
        "to_regclass('billing.procrastinate_jobs') IS NOT NULL"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])
