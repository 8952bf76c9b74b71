"""SQL for plans: the price list, seeded by the initial migration, edited by operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from services.billing.dbtypes import Conn

_COLUMNS = "code, label, rank, price_usd_cents, monthly_transfer_limit, fee_bps, updated_at"


@dataclass(frozen=True)
class Plan:
    code: str
    label: str
    rank: int
    price_usd_cents: int
    monthly_transfer_limit: int | None
    fee_bps: int
    updated_at: datetime


async def list_plans(conn: Conn) -> list[Plan]:
    async with conn.cursor(row_factory=class_row(Plan)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM billing.plans ORDER BY rank")
        return await cur.fetchall()


async def get_plan(conn: Conn, code: str) -> Plan | None:
    async with conn.cursor(row_factory=class_row(Plan)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM billing.plans WHERE code = %s", (code,))
        return await cur.fetchone()


async def update_plan(
    conn: Conn,
    code: str,
    *,
    label: str,
    price_usd_cents: int,
    monthly_transfer_limit: int | None,
    fee_bps: int,
    now: datetime,
) -> Plan | None:
    async with conn.cursor(row_factory=class_row(Plan)) as cur:
        await cur.execute(
            "UPDATE billing.plans SET label = %s, price_usd_cents = %s, "
            "monthly_transfer_limit = %s, fee_bps = %s, updated_at = %s "
            f"WHERE code = %s RETURNING {_COLUMNS}",
            (label, price_usd_cents, monthly_transfer_limit, fee_bps, now, code),
        )
        return await cur.fetchone()


async def insert_plan(conn: Conn, plan: Plan) -> None:
    """Restores a seed plan that is missing; an existing plan is never changed."""
    await conn.execute(
        f"INSERT INTO billing.plans ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        (
            plan.code,
            plan.label,
            plan.rank,
            plan.price_usd_cents,
            plan.monthly_transfer_limit,
            plan.fee_bps,
            plan.updated_at,
        ),
    )
