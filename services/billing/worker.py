"""The billing worker: procrastinate with the periodic renewal sweep, webhook delivery
and the tier check-ups.

`python -m services.billing worker` (or `python -m services.billing.worker`).
Any number of workers may run: periodic deferrals are deduplicated by
procrastinate, and every renewal takes its agent's lock without waiting. Each
worker also retries the jobs of workers that died mid-job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from contextlib import suppress

from services.billing import jobs
from services.billing.customers import tasks as customer_tasks
from services.billing.renewals import tasks as renewal_tasks
from services.billing.runtime import Billing, build_billing
from services.billing.settings import BillingSettings
from services.billing.webhooks import tasks as webhook_tasks
from services.common.jobs import retry_stalled_jobs
from services.common.logs import configure_logging

log = logging.getLogger("sealpay.billing.worker")


def register_tasks(billing: Billing) -> None:
    renewal_tasks.register(billing.queue, billing)
    customer_tasks.register(billing.queue, billing)
    webhook_tasks.register(billing.queue, billing)


async def run_worker(billing: Billing, *, name: str | None = None) -> None:
    """Serve jobs until cancelled (SIGINT/SIGTERM stop it gracefully)."""
    settings = billing.settings
    await billing.start()
    try:
        log.info(
            "billing.worker.started",
            extra={
                "concurrency": settings.billing_worker_concurrency,
                "cron": settings.billing_renewal_cron,
            },
        )
        stalled = settings.billing_worker_stalled_seconds
        recovery = asyncio.create_task(_recover_stalled_jobs(billing, stalled))
        try:
            await billing.queue.run_worker_async(
                queues=list(jobs.QUEUES),
                name=name or f"billing-{socket.gethostname()}-{os.getpid()}",
                concurrency=settings.billing_worker_concurrency,
                fetch_job_polling_interval=settings.billing_worker_poll_seconds,
                update_heartbeat_interval=stalled / 3,
                stalled_worker_timeout=stalled,
                delete_jobs="successful",
                install_signal_handlers=True,
            )
        finally:
            recovery.cancel()
            with suppress(asyncio.CancelledError):
                await recovery
    finally:
        await billing.stop()


async def _recover_stalled_jobs(billing: Billing, stalled_seconds: float) -> None:
    """Every third of `stalled_seconds`, retry the jobs a dead worker left `doing`
    (a webhook delivery cut off mid-attempt would otherwise never be sent)."""
    while True:
        try:
            await retry_stalled_jobs(
                billing.queue, jobs.QUEUES, log, stalled_seconds=stalled_seconds
            )
        except Exception:  # the database may be away for a moment: try again next round
            log.exception("billing.worker.stalled_jobs_check_failed")
        await asyncio.sleep(stalled_seconds / 3)


def main() -> None:
    settings = BillingSettings()
    configure_logging("billing-worker", settings.log_level)
    billing = build_billing(settings)
    register_tasks(billing)
    asyncio.run(run_worker(billing))


if __name__ == "__main__":
    main()
