"""The procrastinate app: its connector (tables in the billing schema) and task names.

Jobs are deferred on the caller's connection, inside its transaction, so a job
exists if and only if the state change that asked for it committed (outbox).
The one exception is the tier check-up (customers/service.py), which must
survive its caller's rollback and is deferred on the queue's own connections.
"""

from __future__ import annotations

from typing import Any

import procrastinate
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from services.billing.db import SEARCH_PATH_OPTIONS, conninfo
from services.billing.dbtypes import Conn

RENEWAL_SWEEP = "billing.renewal_sweep"
DELIVER_WEBHOOK = "billing.deliver_webhook"
SYNC_TIER = "billing.sync_tier"
RENEWALS_QUEUE = "billing_renewals"
WEBHOOKS_QUEUE = "billing_webhooks"
TIERS_QUEUE = "billing_tiers"
QUEUES = (RENEWALS_QUEUE, WEBHOOKS_QUEUE, TIERS_QUEUE)


class CappedBackoff(BaseRetryStrategy):  # type: ignore[misc]
    """Wait base * 2**attempt seconds (capped) between runs; at most `max_attempts`
    runs (None: until it succeeds)."""

    def __init__(self, max_attempts: int | None, base_seconds: float, max_seconds: float) -> None:
        self.max_attempts = max_attempts
        self.base = base_seconds
        self.cap = max_seconds

    def delay(self, attempts_so_far: int) -> float:
        # The exponent is bounded: a job retried for days must not overflow a float.
        return float(min(self.cap, self.base * 2 ** min(attempts_so_far, 32)))

    def is_last(self, attempts_so_far: int) -> bool:
        return self.max_attempts is not None and attempts_so_far + 1 >= self.max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if self.is_last(job.attempts):
            return None
        return RetryDecision(retry_in={"seconds": self.delay(job.attempts)})


def build_queue(database_url: str) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url),
        min_size=1,
        max_size=4,
        kwargs={"options": SEARCH_PATH_OPTIONS, "application_name": "sealpay-billing-jobs"},
    )
    return procrastinate.App(connector=connector)


async def defer(queue: procrastinate.App, conn: Conn, task: str, **kwargs: Any) -> int:
    """Defer `task` on `conn`: the job commits or rolls back with the caller's transaction."""
    job_id: int = await queue.configure_task(task, connection=conn).defer_async(**kwargs)
    return job_id
