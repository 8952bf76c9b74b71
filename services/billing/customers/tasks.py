"""The tier check-up job (customers/service.py)."""

from __future__ import annotations

import uuid

import procrastinate

from services.billing import jobs
from services.billing.customers import service as customers
from services.billing.runtime import Billing

# A busy lock or an absent core defer a new check-up (service.sync_tier); this
# retries anything else (the billing database away, say), at most every five minutes.
RETRY = jobs.CappedBackoff(None, base_seconds=1.0, max_seconds=300.0)


def register(queue: procrastinate.App, billing: Billing) -> None:
    @queue.task(name=jobs.SYNC_TIER, queue=jobs.TIERS_QUEUE, retry=RETRY)  # type: ignore[untyped-decorator]
    async def sync_tier(agent_id: str, core_before: str) -> str | None:
        return await customers.sync_tier(billing, uuid.UUID(agent_id), core_before)
