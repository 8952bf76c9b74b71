"""Webhook delivery, a procrastinate task retried with exponential backoff."""

from __future__ import annotations

import uuid

import procrastinate

from services.billing import jobs
from services.billing.runtime import Billing
from services.billing.webhooks import service as webhooks


def register(queue: procrastinate.App, billing: Billing) -> None:
    settings = billing.settings
    retry = jobs.CappedBackoff(
        settings.webhook_max_attempts,
        settings.webhook_retry_base_seconds,
        settings.webhook_retry_max_seconds,
    )

    @queue.task(  # type: ignore[untyped-decorator]
        name=jobs.DELIVER_WEBHOOK, queue=jobs.WEBHOOKS_QUEUE, pass_context=True, retry=retry
    )
    async def deliver_webhook(context: procrastinate.JobContext, delivery_id: str) -> None:
        await webhooks.deliver(
            billing.db.transaction,
            billing.webhook_http,
            billing.vault,
            uuid.UUID(delivery_id),
            last_attempt=retry.is_last(context.job.attempts),
            at=billing.clock.now(),
        )
