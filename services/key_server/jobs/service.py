"""Housekeeping the sweeper runs: expire charges, and give orphaned outbox rows a job again.

An outbox row's job is deferred with it, and retried without limit, so a
row should never be without one; but jobs can be cancelled or deleted by an
operator, and money owed must not depend on nobody ever doing that. A row
still owed (or pending) after a minute with no waiting or running job gets a
new one. Running the same job twice is harmless (idempotency key; delivered
callbacks are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from services.key_server.charges import service as charges
from services.key_server.charges.callbacks import callback_queueing_lock, charge_callbacks_lock
from services.key_server.deposits.service import credit_queueing_lock
from services.key_server.jobs import CREDIT_DEPOSIT, DELIVER_CALLBACK
from services.key_server.jobs import repository as repo

ORPHAN_AFTER = timedelta(minutes=1)
BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    settled_charges: int
    redeferred_credits: int
    redeferred_callbacks: int


def sweep(conn: Connection, now: datetime) -> SweepReport:
    before = now - ORPHAN_AFTER
    credits = 0
    for credit_id in repo.owed_credits_before(conn, before, BATCH):
        queueing_lock = credit_queueing_lock(credit_id)
        credits += _redefer(conn, queueing_lock, CREDIT_DEPOSIT, {"credit_id": str(credit_id)})
    callbacks = 0
    for callback_id, charge_id in repo.orphaned_callbacks_before(conn, before, BATCH):
        callbacks += _redefer(
            conn,
            callback_queueing_lock(callback_id),
            DELIVER_CALLBACK,
            {"callback_id": str(callback_id)},
            lock=charge_callbacks_lock(charge_id),  # still in order behind its elders
        )
    return SweepReport(charges.expire_due(conn, now, BATCH), credits, callbacks)


def _redefer(
    conn: Connection,
    queueing_lock: str,
    task: str,
    args: dict[str, str],
    *,
    lock: str | None = None,
) -> int:
    if repo.has_live_job(conn, queueing_lock):
        return 0
    try:
        with conn.begin_nested():
            repo.defer(conn, task, args, queueing_lock=queueing_lock, lock=lock)
    except sa.exc.IntegrityError:  # a job with this lock appeared meanwhile
        return 0
    return 1
