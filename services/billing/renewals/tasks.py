"""The periodic renewal sweep, a thin procrastinate task over renewals.run_sweep."""

from __future__ import annotations

import logging
from typing import Any

import procrastinate

from services.billing import jobs
from services.billing.renewals import service as renewals
from services.billing.runtime import Billing
from services.common.clock import parse_rfc3339

log = logging.getLogger("sealpay.billing.tasks")


def register(queue: procrastinate.App, billing: Billing) -> None:
    @queue.task(name=jobs.RENEWAL_SWEEP, queue=jobs.RENEWALS_QUEUE)  # type: ignore[untyped-decorator]
    async def renewal_sweep(timestamp: int | None = None, at: str | None = None) -> dict[str, Any]:
        """Periodic (procrastinate passes the cron `timestamp`), or deferred with an
        explicit RFC 3339 `at` (tests, catch-up runs)."""
        when = parse_rfc3339(at) if at else billing.clock.now()
        report = await renewals.run_sweep(billing, when)
        log.info("billing.renewal.sweep", extra={"at": at, "counts": report.counts()})
        return report.counts()

    cron = billing.settings.billing_renewal_cron.strip()
    if cron:
        queue.periodic(cron=cron, periodic_id="renewal-sweep")(renewal_sweep)
