"""SQL for charges and their callback outbox (key_server.charges, charge_callbacks)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection


class ChargeRow(NamedTuple):
    id: uuid.UUID
    chain_id: str
    address_id: uuid.UUID
    amount: int
    reference: str
    status: str
    callback_url: str | None
    expires_at: datetime
    idempotency_key: str | None
    request_hash: bytes | None
    created_at: datetime
    updated_at: datetime


class CallbackRow(NamedTuple):
    id: uuid.UUID
    charge_id: uuid.UUID
    url: str
    event_type: str
    body: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


_CHARGE_COLUMNS = ", ".join(ChargeRow._fields)
_CALLBACK_COLUMNS = ", ".join(CallbackRow._fields)


def insert_charge(conn: Connection, row: ChargeRow) -> None:
    placeholders = ", ".join(f":{name}" for name in ChargeRow._fields)
    conn.execute(
        sa.text(f"INSERT INTO key_server.charges ({_CHARGE_COLUMNS}) VALUES ({placeholders})"),
        row._asdict(),
    )


def get_charge(conn: Connection, charge_id: uuid.UUID, *, lock: bool = False) -> ChargeRow | None:
    suffix = " FOR UPDATE" if lock else ""
    row = conn.execute(
        sa.text(f"SELECT {_CHARGE_COLUMNS} FROM key_server.charges WHERE id = :id{suffix}"),
        {"id": charge_id},
    ).first()
    return None if row is None else ChargeRow(*row)


def charge_for_address(conn: Connection, address_id: uuid.UUID) -> uuid.UUID:
    charge_id: uuid.UUID = conn.execute(
        sa.text("SELECT id FROM key_server.charges WHERE address_id = :a"), {"a": address_id}
    ).scalar_one()
    return charge_id


def charge_by_idempotency_key(conn: Connection, key: str) -> ChargeRow | None:
    row = conn.execute(
        sa.text(f"SELECT {_CHARGE_COLUMNS} FROM key_server.charges WHERE idempotency_key = :k"),
        {"k": key},
    ).first()
    return None if row is None else ChargeRow(*row)


def lock_idempotency_key(conn: Connection, key: str) -> None:
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"key_server:charge-idempotency:{key}"},
    )


def set_status(conn: Connection, charge_id: uuid.UUID, status: str, now: datetime) -> None:
    conn.execute(
        sa.text("UPDATE key_server.charges SET status = :s, updated_at = :now WHERE id = :id"),
        {"id": charge_id, "s": status, "now": now},
    )


# The status list repeats the partial index's predicate (tables.py), so the
# planner can see the index applies. A seen charge is due once no output is
# still expected to confirm: each is confirmed, or dropped (first seen before
# `dropped_before`; charges/service.py).
DUE_UNSETTLED = (
    "SELECT c.id FROM key_server.charges c "
    "WHERE c.expires_at <= :now AND c.status IN ('pending', 'seen') AND ("
    "c.status = 'pending' OR NOT EXISTS ("
    "SELECT 1 FROM key_server.chain_outputs o "
    "WHERE o.address_id = c.address_id AND o.confirmed_at IS NULL "
    "AND o.first_seen_at > :dropped_before)) "
    "ORDER BY c.expires_at LIMIT :limit FOR UPDATE OF c SKIP LOCKED"
)


def lock_due_unsettled(
    conn: Connection, now: datetime, dropped_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Charges past their expiry whose status the expiry decides, locked (ones a
    payment is updating are skipped): pending ones (to expire) and seen ones with
    no output still expected to confirm (to settle as underpaid, or expired). A
    seen charge still waiting for confirmations is decided when they arrive."""
    rows = conn.execute(
        sa.text(DUE_UNSETTLED),
        {"now": now, "dropped_before": dropped_before, "limit": limit},
    ).scalars()
    return list(rows)


def insert_callback(conn: Connection, row: CallbackRow) -> None:
    placeholders = ", ".join(f":{name}" for name in CallbackRow._fields)
    conn.execute(
        sa.text(
            f"INSERT INTO key_server.charge_callbacks ({_CALLBACK_COLUMNS}) VALUES ({placeholders})"
        ),
        row._asdict(),
    )


def get_callback(conn: Connection, callback_id: uuid.UUID) -> CallbackRow | None:
    row = conn.execute(
        sa.text(f"SELECT {_CALLBACK_COLUMNS} FROM key_server.charge_callbacks WHERE id = :id"),
        {"id": callback_id},
    ).first()
    return None if row is None else CallbackRow(*row)


def record_callback_attempt(
    conn: Connection, callback_id: uuid.UUID, status_code: int | None, error: str | None
) -> None:
    conn.execute(
        sa.text(
            "UPDATE key_server.charge_callbacks SET attempts = attempts + 1, "
            "last_status_code = :code, last_error = :error WHERE id = :id"
        ),
        {"id": callback_id, "code": status_code, "error": error},
    )


def mark_callback_delivered(
    conn: Connection, callback_id: uuid.UUID, status_code: int, now: datetime
) -> None:
    conn.execute(
        sa.text(
            "UPDATE key_server.charge_callbacks SET status = 'delivered', delivered_at = :now, "
            "attempts = attempts + 1, last_status_code = :code, last_error = NULL "
            "WHERE id = :id AND status = 'pending'"
        ),
        {"id": callback_id, "code": status_code, "now": now},
    )
