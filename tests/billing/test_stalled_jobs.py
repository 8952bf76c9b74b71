"""A dead worker's job is put back, unless a job under the same queueing lock
already waits (it would violate procrastinate's unique index): then it is aborted."""

import asyncio
import logging
import uuid

import sqlalchemy as sa

from services.billing import jobs
from services.common.jobs import retry_stalled_jobs


def _stall(db, lock: str) -> int:
    """A sync_tier job left `doing` by a worker whose heartbeat stopped an hour ago."""
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL search_path = billing"))  # procrastinate's triggers
        worker = conn.execute(
            sa.text(
                "INSERT INTO billing.procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '1 hour') RETURNING id"
            )
        ).scalar_one()
        return conn.execute(
            sa.text(
                "INSERT INTO billing.procrastinate_jobs "
                "(queue_name, task_name, queueing_lock, args, status, worker_id) "
                "VALUES (:q, :t, :lock, '{}'::jsonb, 'doing', :w) RETURNING id"
            ),
            {"q": jobs.TIERS_QUEUE, "t": jobs.SYNC_TIER, "lock": lock, "w": worker},
        ).scalar_one()


def _wait(db, lock: str) -> int:
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL search_path = billing"))
        return conn.execute(
            sa.text(
                "INSERT INTO billing.procrastinate_jobs "
                "(queue_name, task_name, queueing_lock, args, status) "
                "VALUES (:q, :t, :lock, '{}'::jsonb, 'todo') RETURNING id"
            ),
            {"q": jobs.TIERS_QUEUE, "t": jobs.SYNC_TIER, "lock": lock},
        ).scalar_one()


def _retry(database_url: str) -> int:
    async def run() -> int:
        queue = jobs.build_queue(database_url)
        async with queue.open_async():
            return await retry_stalled_jobs(
                queue, jobs.QUEUES, logging.getLogger("test"), stalled_seconds=30
            )

    return asyncio.run(run())


def _statuses(db, *ids: int) -> list[str]:
    with db.connect() as conn:
        rows = dict(
            conn.execute(
                sa.text("SELECT id, status FROM billing.procrastinate_jobs WHERE id = ANY(:ids)"),
                {"ids": list(ids)},
            ).all()
        )
    return [rows[i] for i in ids]


def test_a_stalled_job_is_put_back_and_one_with_a_waiting_twin_is_aborted(billing_db, database_url):
    alone = _stall(billing_db, f"lock-{uuid.uuid4()}")
    twin_lock = f"lock-{uuid.uuid4()}"
    twinned = _stall(billing_db, twin_lock)
    waiting = _wait(billing_db, twin_lock)
    assert _retry(database_url) == 1
    assert _statuses(billing_db, alone, twinned, waiting) == ["todo", "aborted", "todo"]
