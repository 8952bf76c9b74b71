"""The procrastinate app: its connector (tables in the billing schema) and task names.

Jobs are deferred on the caller's connection, inside its transaction, so a job
exists if and only if the state change that asked for it committed (outbox).
"""

from __future__ import annotations

from typing import Any

import procrastinate

from services.billing.db import SEARCH_PATH_OPTIONS, conninfo
from services.billing.dbtypes import Conn

RENEWAL_SWEEP = "billing.renewal_sweep"
DELIVER_WEBHOOK = "billing.deliver_webhook"
RENEWALS_QUEUE = "billing_renewals"
WEBHOOKS_QUEUE = "billing_webhooks"
QUEUES = (RENEWALS_QUEUE, WEBHOOKS_QUEUE)


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
