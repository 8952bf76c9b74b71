"""SQL that defers procrastinate jobs inside the caller's transaction, and finds
outbox rows whose job is gone (for the sweeper)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from services.key_server.jobs import QUEUE


def defer(
    conn: Connection,
    task_name: str,
    args: dict[str, Any],
    *,
    queueing_lock: str | None,
    lock: str | None = None,
) -> None:
    """Insert the job with procrastinate's own function, in this transaction.

    Jobs sharing a `lock` run one at a time in the order they were deferred; a
    job waiting for its retry holds back the later ones (procrastinate's fetch
    skips a job while an earlier one with its lock is still `todo` or `doing`).

    (The migration pins procrastinate's functions to the key_server search
    path, so this works from any session.) Workers are woken by the NOTIFY its
    trigger sends, which PostgreSQL delivers at commit: never before the state
    change that caused the job is visible.
    """
    conn.execute(
        sa.text(
            "SELECT key_server.procrastinate_defer_jobs_v1(ARRAY[ROW("
            ":queue, :task, 0, :lock, :queueing_lock, CAST(:args AS jsonb), NULL"
            ")::key_server.procrastinate_job_to_defer_v1])"
        ),
        {
            "queue": QUEUE,
            "task": task_name,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": json.dumps(args),
        },
    )


def has_live_job(conn: Connection, queueing_lock: str) -> bool:
    """Whether a job with this lock is waiting or running."""
    found = conn.execute(
        sa.text(
            "SELECT 1 FROM key_server.procrastinate_jobs "
            "WHERE queueing_lock = :lock AND status IN ('todo', 'doing') LIMIT 1"
        ),
        {"lock": queueing_lock},
    ).first()
    return found is not None


# Rows with no waiting or running job, filtered before the LIMIT: rows whose job
# is merely retrying (the core or billing away for long) must not fill the batch
# and hide an orphan behind them for good. One anti-join over the live jobs.
def owed_credits_before(conn: Connection, before: datetime, limit: int) -> list[uuid.UUID]:
    rows = conn.execute(
        sa.text(
            "SELECT c.id FROM key_server.deposit_credits c "
            "WHERE c.status = 'owed' AND c.created_at < :before AND NOT EXISTS ("
            "SELECT 1 FROM key_server.procrastinate_jobs j "
            "WHERE j.queueing_lock = 'credit:' || c.id AND j.status IN ('todo', 'doing')) "
            "ORDER BY c.created_at LIMIT :limit"
        ),
        {"before": before, "limit": limit},
    ).scalars()
    return list(rows)


def orphaned_callbacks_before(
    conn: Connection, before: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(callback id, charge id) of pending callbacks with no live job."""
    rows = conn.execute(
        sa.text(
            "SELECT c.id, c.charge_id FROM key_server.charge_callbacks c "
            "WHERE c.status = 'pending' AND c.created_at < :before AND NOT EXISTS ("
            "SELECT 1 FROM key_server.procrastinate_jobs j "
            "WHERE j.queueing_lock = 'callback:' || c.id AND j.status IN ('todo', 'doing')) "
            "ORDER BY c.created_at LIMIT :limit"
        ),
        {"before": before, "limit": limit},
    ).all()
    return [(r.id, r.charge_id) for r in rows]
