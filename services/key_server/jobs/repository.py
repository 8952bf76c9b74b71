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


def owed_credits_before(conn: Connection, before: datetime, limit: int) -> list[uuid.UUID]:
    rows = conn.execute(
        sa.text(
            "SELECT id FROM key_server.deposit_credits "
            "WHERE status = 'owed' AND created_at < :before ORDER BY created_at LIMIT :limit"
        ),
        {"before": before, "limit": limit},
    ).scalars()
    return list(rows)


def pending_callbacks_before(conn: Connection, before: datetime, limit: int) -> list[uuid.UUID]:
    rows = conn.execute(
        sa.text(
            "SELECT id FROM key_server.charge_callbacks "
            "WHERE status = 'pending' AND created_at < :before ORDER BY created_at LIMIT :limit"
        ),
        {"before": before, "limit": limit},
    ).scalars()
    return list(rows)
