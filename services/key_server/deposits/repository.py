"""SQL for owed deposit credits (key_server.deposit_credits, the credit outbox)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection


class CreditRow(NamedTuple):
    id: uuid.UUID
    output_id: uuid.UUID
    chain_id: str
    agent_id: uuid.UUID
    asset: str
    amount: int
    idempotency_key: str
    status: str
    attempts: int
    last_error: str | None
    payment_id: str | None
    created_at: datetime
    credited_at: datetime | None


_COLUMNS = ", ".join(CreditRow._fields)


def insert_credit(
    conn: Connection,
    credit_id: uuid.UUID,
    output_id: uuid.UUID,
    chain_id: str,
    agent_id: uuid.UUID,
    asset: str,
    amount: int,
    idempotency_key: str,
    now: datetime,
) -> bool:
    """False when this output already owes (or was paid) its credit."""
    row = conn.execute(
        sa.text(
            "INSERT INTO key_server.deposit_credits "
            "(id, output_id, chain_id, agent_id, asset, amount, idempotency_key, status, "
            "created_at) VALUES (:id, :output, :chain, :agent, :asset, :amount, :key, 'owed', "
            ":now) ON CONFLICT (output_id) DO NOTHING RETURNING id"
        ),
        {
            "id": credit_id,
            "output": output_id,
            "chain": chain_id,
            "agent": agent_id,
            "asset": asset,
            "amount": amount,
            "key": idempotency_key,
            "now": now,
        },
    ).first()
    return row is not None


def get_credit(conn: Connection, credit_id: uuid.UUID) -> CreditRow | None:
    row = conn.execute(
        sa.text(f"SELECT {_COLUMNS} FROM key_server.deposit_credits WHERE id = :id"),
        {"id": credit_id},
    ).first()
    return None if row is None else CreditRow(*row)


def record_attempt(conn: Connection, credit_id: uuid.UUID, error: str | None) -> None:
    conn.execute(
        sa.text(
            "UPDATE key_server.deposit_credits SET attempts = attempts + 1, last_error = :error "
            "WHERE id = :id"
        ),
        {"id": credit_id, "error": error},
    )


def mark_credited(conn: Connection, credit_id: uuid.UUID, payment_id: str, now: datetime) -> bool:
    """True for the one call that moved the row from owed to credited."""
    row = conn.execute(
        sa.text(
            "UPDATE key_server.deposit_credits SET status = 'credited', payment_id = :payment, "
            "credited_at = :now, attempts = attempts + 1, last_error = NULL "
            "WHERE id = :id AND status = 'owed' RETURNING id"
        ),
        {"id": credit_id, "payment": payment_id, "now": now},
    ).first()
    return row is not None
