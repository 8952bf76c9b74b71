"""SQL for invoices and their lines."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.rows import class_row

from services.billing.dbtypes import Conn, columns, insert_sql, params, update_sql

OPEN = "open"
PAID = "paid"
VOID = "void"
CYCLE = "cycle"
BALANCE = "balance"  # rails: charged from the balance by the payment core ...
CRYPTO = "crypto"  # ... or paid on-chain through a key-server charge
PRORATION = "proration"


@dataclass(frozen=True)
class Invoice:
    id: uuid.UUID
    agent_id: uuid.UUID
    subscription_id: uuid.UUID | None
    cycle: int | None
    kind: str
    status: str
    plan_code: str
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
    level_top_usd_cents: int
    refunded_minor: int
    charge_scope: str
    charge_key: str
    charge_id: uuid.UUID | None
    receipt: dict[str, Any] | None
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    paid_at: datetime | None
    voided_at: datetime | None
    rail: str = BALANCE


@dataclass(frozen=True)
class InvoiceLine:
    invoice_id: uuid.UUID
    position: int
    description: str
    plan_code: str
    usd_cents: int
    period_start: datetime
    period_end: datetime


_COLUMNS = ", ".join(columns(Invoice))
_INSERT = insert_sql("billing.invoices", Invoice)
_UPDATE = update_sql("billing.invoices", Invoice)
_INSERT_LINE = insert_sql("billing.invoice_lines", InvoiceLine)


async def insert(conn: Conn, invoice: Invoice, lines: list[InvoiceLine]) -> None:
    await conn.execute(_INSERT, params(invoice))
    for line in lines:
        await conn.execute(_INSERT_LINE, params(line))


async def insert_cycle_invoice(conn: Conn, invoice: Invoice, lines: list[InvoiceLine]) -> bool:
    """Insert a subscription cycle's invoice unless that cycle already has one."""
    cur = await conn.execute(
        _INSERT + " ON CONFLICT (subscription_id, cycle) WHERE kind = 'cycle' DO NOTHING",
        params(invoice),
    )
    if cur.rowcount != 1:
        return False
    for line in lines:
        await conn.execute(_INSERT_LINE, params(line))
    return True


async def update(conn: Conn, invoice: Invoice) -> None:
    await conn.execute(_UPDATE, params(invoice))


async def delete(conn: Conn, invoice_id: uuid.UUID) -> None:
    """Only for an upgrade the payment core refused: nothing was charged."""
    await conn.execute("DELETE FROM billing.invoice_lines WHERE invoice_id = %s", (invoice_id,))
    await conn.execute(
        "DELETE FROM billing.invoices WHERE id = %s AND status = 'open'", (invoice_id,)
    )


async def get(conn: Conn, invoice_id: uuid.UUID) -> Invoice | None:
    async with conn.cursor(row_factory=class_row(Invoice)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM billing.invoices WHERE id = %s", (invoice_id,))
        return await cur.fetchone()


async def get_cycle_invoice(conn: Conn, subscription_id: uuid.UUID, cycle: int) -> Invoice | None:
    async with conn.cursor(row_factory=class_row(Invoice)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.invoices "
            "WHERE subscription_id = %s AND cycle = %s AND kind = 'cycle'",
            (subscription_id, cycle),
        )
        return await cur.fetchone()


# A void balance-rail invoice whose charge was found posted when it was voided
# (CancelCharge answered with a receipt), and not yet refunded: phase 2 of a void.
_REFUND_DUE = (
    "status = 'void' AND rail = 'balance' AND charge_id IS NOT NULL "
    "AND refunded_minor < amount_minor"
)


async def void_refunds_due(conn: Conn, agent_id: uuid.UUID) -> list[Invoice]:
    async with conn.cursor(row_factory=class_row(Invoice)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.invoices "
            f"WHERE agent_id = %s AND {_REFUND_DUE} ORDER BY created_at, id",
            (agent_id,),
        )
        return await cur.fetchall()


async def agents_with_void_refunds_due(conn: Conn, limit: int) -> list[uuid.UUID]:
    cur = await conn.execute(
        f"SELECT agent_id FROM billing.invoices WHERE {_REFUND_DUE} "
        "GROUP BY agent_id ORDER BY min(voided_at) LIMIT %s",
        (limit,),
    )
    return [row[0] for row in await cur.fetchall()]


# Both by ix_invoices_subscription_id_cycle (tests/billing/test_query_plans.py).
OPEN_FOR_SUBSCRIPTION = (
    f"SELECT {_COLUMNS} FROM billing.invoices "
    "WHERE subscription_id = %s AND status = 'open' ORDER BY created_at, id"
)
PAID_IN_CYCLE = (
    f"SELECT {_COLUMNS} FROM billing.invoices "
    "WHERE subscription_id = %s AND cycle = %s AND status = 'paid' "
    "ORDER BY level_from_usd_cents DESC, created_at DESC, id"
)


async def open_for_subscription(conn: Conn, subscription_id: uuid.UUID) -> list[Invoice]:
    async with conn.cursor(row_factory=class_row(Invoice)) as cur:
        await cur.execute(OPEN_FOR_SUBSCRIPTION, (subscription_id,))
        return await cur.fetchall()


async def paid_in_cycle(conn: Conn, subscription_id: uuid.UUID, cycle: int) -> list[Invoice]:
    """The invoices that paid for a subscription's period: the price levels it holds."""
    async with conn.cursor(row_factory=class_row(Invoice)) as cur:
        await cur.execute(PAID_IN_CYCLE, (subscription_id, cycle))
        return await cur.fetchall()


async def list_for_agent(conn: Conn, agent_id: uuid.UUID, limit: int = 100) -> list[Invoice]:
    async with conn.cursor(row_factory=class_row(Invoice)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.invoices WHERE agent_id = %s "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (agent_id, limit),
        )
        return await cur.fetchall()


async def lines(conn: Conn, invoice_id: uuid.UUID) -> list[InvoiceLine]:
    async with conn.cursor(row_factory=class_row(InvoiceLine)) as cur:
        await cur.execute(
            f"SELECT {', '.join(columns(InvoiceLine))} FROM billing.invoice_lines "
            "WHERE invoice_id = %s ORDER BY position",
            (invoice_id,),
        )
        return await cur.fetchall()
