"""Webhook delivery, a procrastinate task retried with exponential backoff."""

from __future__ import annotations

import uuid

import procrastinate
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from services.billing import jobs
from services.billing.runtime import Billing
from services.billing.webhooks import service as webhooks


class WebhookRetry(BaseRetryStrategy):  # type: ignore[misc]
    """Wait base * 2**attempt seconds (capped) between runs; at most `max_attempts` runs."""

    def __init__(self, max_attempts: int, base_seconds: float, max_seconds: float) -> None:
        self.max_attempts = max_attempts
        self.base = base_seconds
        self.cap = max_seconds

    def delay(self, attempts_so_far: int) -> float:
        return float(min(self.cap, self.base * 2**attempts_so_far))

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts + 1 >= self.max_attempts:
            return None
        return RetryDecision(retry_in={"seconds": self.delay(job.attempts)})


def register(queue: procrastinate.App, billing: Billing) -> None:
    settings = billing.settings
    retry = WebhookRetry(
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
            last_attempt=context.job.attempts + 1 >= retry.max_attempts,
            at=billing.clock.now(),
        )
