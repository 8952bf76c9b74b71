"""SQL for crypto charges (an invoice paid on-chain) and the charge callbacks accepted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.billing.dbtypes import Conn, columns, insert_sql, params, update_sql


@dataclass(frozen=True)
class CryptoCharge:
    invoice_id: uuid.UUID
    agent_id: uuid.UUID
    quote_id: uuid.UUID
    chain: str
    amount_minor: int
    expires_in_seconds: int
    callback_url: str
    charge_id: uuid.UUID | None  # None until the key server answered
    address: str | None
    expires_at: datetime | None
    charge_status: str | None
    amount_received: int
    txids: list[str]
    paid_late: bool
    created_at: datetime
    updated_at: datetime


_COLUMNS = ", ".join(columns(CryptoCharge))
_INSERT = insert_sql("billing.crypto_charges", CryptoCharge)
_UPDATE = update_sql("billing.crypto_charges", CryptoCharge, key="invoice_id")


async def insert(conn: Conn, charge: CryptoCharge) -> None:
    await conn.execute(_INSERT, params(charge))


async def update(conn: Conn, charge: CryptoCharge) -> None:
    await conn.execute(_UPDATE, params(charge))


async def delete(conn: Conn, invoice_id: uuid.UUID) -> None:
    """Only for an intent the key server refused: no charge exists."""
    await conn.execute(
        "DELETE FROM billing.crypto_charges WHERE invoice_id = %s AND charge_id IS NULL",
        (invoice_id,),
    )


async def get(conn: Conn, invoice_id: uuid.UUID) -> CryptoCharge | None:
    async with conn.cursor(row_factory=class_row(CryptoCharge)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.crypto_charges WHERE invoice_id = %s", (invoice_id,)
        )
        return await cur.fetchone()


async def by_charge_id(conn: Conn, charge_id: uuid.UUID) -> CryptoCharge | None:
    async with conn.cursor(row_factory=class_row(CryptoCharge)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM billing.crypto_charges WHERE charge_id = %s", (charge_id,)
        )
        return await cur.fetchone()


async def record_event(
    conn: Conn,
    *,
    event_id: uuid.UUID,
    charge_id: uuid.UUID,
    invoice_id: uuid.UUID,
    event_type: str,
    body: dict[str, Any],
    at: datetime,
) -> bool:
    """Record a callback as being handled; False when this event id was handled before."""
    cur = await conn.execute(
        "INSERT INTO billing.charge_events "
        "(event_id, charge_id, invoice_id, type, outcome, body, received_at) "
        "VALUES (%s, %s, %s, %s, 'received', %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (event_id, charge_id, invoice_id, event_type, Jsonb(body), at),
    )
    return cur.rowcount == 1


async def set_event_outcome(conn: Conn, event_id: uuid.UUID, outcome: str) -> None:
    await conn.execute(
        "UPDATE billing.charge_events SET outcome = %s WHERE event_id = %s", (outcome, event_id)
    )


async def event_outcome(conn: Conn, event_id: uuid.UUID) -> str | None:
    cur = await conn.execute(
        "SELECT outcome FROM billing.charge_events WHERE event_id = %s", (event_id,)
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])
