"""Plumbing shared by the services' procrastinate workers."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import procrastinate
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Status


async def retry_stalled_jobs(
    app: procrastinate.App,
    queues: Iterable[str],
    log: logging.Logger,
    *,
    stalled_seconds: float = 30,
) -> int:
    """Put back to `todo` the jobs left `doing` by a worker that died mid-job (no
    heartbeat for `stalled_seconds`); how many.

    procrastinate does not do this by itself: such a job stays `doing` forever
    unless something calls this (its docs: a periodic task should). Every task
    here is safe to run again, so a job retried after a worker merely froze for
    that long costs a duplicate attempt, never money. A stalled job whose
    queueing lock another waiting job holds is aborted instead: the waiting one
    does the same work (such tasks read the state when they run)."""
    retried = 0
    for queue in queues:
        stalled = await app.job_manager.get_stalled_jobs(
            queue=queue, seconds_since_heartbeat=stalled_seconds
        )
        for job in stalled:
            try:
                await app.job_manager.retry_job(job)
            except UniqueViolation:
                # A job under the same queueing lock waits already (deferred while
                # this one ran): it does this job's work, and two cannot wait.
                log.warning(
                    "job.stalled.superseded", extra={"job_id": job.id, "task": job.task_name}
                )
                await app.job_manager.finish_job(job, Status.ABORTED, delete_job=False)
                continue
            log.warning("job.stalled.retried", extra={"job_id": job.id, "task": job.task_name})
            retried += 1
    return retried
