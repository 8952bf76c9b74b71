"""SQL for the exchange-rate cache: the last good rate per asset, shared by every process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg.rows import class_row

from services.billing.dbtypes import Conn


@dataclass(frozen=True)
class CachedRate:
    asset: str
    usd_per_unit: Decimal
    source: str
    fetched_at: datetime


async def get(conn: Conn, asset: str) -> CachedRate | None:
    async with conn.cursor(row_factory=class_row(CachedRate)) as cur:
        await cur.execute(
            "SELECT asset, usd_per_unit, source, fetched_at FROM billing.exchange_rates "
            "WHERE asset = %s",
            (asset,),
        )
        return await cur.fetchone()


async def put(conn: Conn, rate: CachedRate) -> None:
    await conn.execute(
        "INSERT INTO billing.exchange_rates (asset, usd_per_unit, source, fetched_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (asset) DO UPDATE SET "
        "usd_per_unit = EXCLUDED.usd_per_unit, source = EXCLUDED.source, "
        "fetched_at = EXCLUDED.fetched_at",
        (rate.asset, rate.usd_per_unit, rate.source, rate.fetched_at),
    )
