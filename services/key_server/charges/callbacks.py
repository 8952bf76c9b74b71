"""Charge callbacks: the signed POST a charge's `callback_url` receives on a status change.

Body (JSON): {"type": "charge.<status>", "event_id", "charge_id", "reference",
"chain", "amount_expected", "amount_received", "txids", "status", "at",
"paid_late"}, signed like every Sealpay event (signing.py) with key id
`key_server` and SEALPAY_CALLBACK_SECRET. The body is fixed when the status
changes and stored in the outbox row; each delivery attempt signs those same
bytes with a fresh timestamp, so a retry is the same event (`event_id`) and a
receiver can deduplicate on it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import Connection

from services.common.clock import rfc3339
from services.key_server.charges import repository as repo
from services.key_server.charges.repository import CallbackRow, ChargeRow
from services.key_server.charges.status import NOTIFIED, ChargeStatus
from services.key_server.jobs import DELIVER_CALLBACK
from services.key_server.jobs import repository as jobs_repo

CALLBACK_KEY_ID = "key_server"
PENDING = "pending"


def callback_queueing_lock(callback_id: uuid.UUID) -> str:
    return f"callback:{callback_id}"


def charge_callbacks_lock(charge_id: uuid.UUID) -> str:
    """One charge's callbacks arrive in the order its status changed: a receiver
    must never see `overpaid` (or `confirmed`) before the `confirmed` (or
    `underpaid`) that preceded it, whatever the retries (and re-deferrals)."""
    return f"charge-callbacks:{charge_id}"


def announce(
    conn: Connection,
    charge: ChargeRow,
    status: ChargeStatus,
    amount_received: int,
    txids: list[str],
    *,
    paid_late: bool,
    now: datetime,
) -> uuid.UUID | None:
    """Write the callback for this status change (if the charge has a URL and the
    status is one callers hear about) and defer its delivery; in the caller's
    transaction."""
    if charge.callback_url is None or status not in NOTIFIED:
        return None
    callback_id = uuid.uuid4()
    event_type = f"charge.{status.value}"
    body = {
        "type": event_type,
        "event_id": str(callback_id),
        "charge_id": str(charge.id),
        "reference": charge.reference,
        "chain": charge.chain_id,
        "amount_expected": charge.amount,
        "amount_received": amount_received,
        "txids": txids,
        "status": status.value,
        "at": rfc3339(now),
        "paid_late": paid_late,
    }
    repo.insert_callback(
        conn,
        CallbackRow(
            id=callback_id,
            charge_id=charge.id,
            url=charge.callback_url,
            event_type=event_type,
            body=json.dumps(body, separators=(",", ":")),
            status=PENDING,
            attempts=0,
            last_status_code=None,
            last_error=None,
            created_at=now,
            delivered_at=None,
        ),
    )
    jobs_repo.defer(
        conn,
        DELIVER_CALLBACK,
        {"callback_id": str(callback_id)},
        queueing_lock=callback_queueing_lock(callback_id),
        lock=charge_callbacks_lock(charge.id),
    )
    return callback_id
