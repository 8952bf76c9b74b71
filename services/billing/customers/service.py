"""An agent's tier as billing records it, and pushing it into the payment core.

Billing is the source of truth for the tier; the core enforces it (fees,
limits) and learns it through `SetTier`, which is idempotent. Callers push
inside their transaction, before it commits: if the push fails, nothing is
recorded. If the commit fails after the push, the core would be left on a tier
billing never recorded; so every push first defers a check-up job, committed
on the queue's own connections whatever becomes of the caller's transaction,
which pushes what billing did record (`sync_tier`). The job takes the agent's
lock, so it runs after the workflow that deferred it has committed or rolled
back, and it reads the tier then: a late job can only repeat the truth.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime

from procrastinate.exceptions import AlreadyEnqueued

from services.billing import jobs
from services.billing.audit import repository as audit_repo
from services.billing.customers import repository as repo
from services.billing.dbtypes import Conn
from services.billing.errors import AgentBusy
from services.billing.runtime import Billing
from services.billing.webhooks import service as webhooks
from services.payment_client.errors import PaymentCoreUnavailable
from services.payment_tee.core.tiers import Tier

ACTOR = "billing"
# Seconds before the check-up runs: it would only wait for the workflow's lock sooner.
TIER_CHECK_DELAY_SECONDS = 2
# ... and after the agent's lock stayed busy, or the core was away.
TIER_CHECK_RETRY_SECONDS = 30

log = logging.getLogger("sealpay.billing.customers")


async def current_tier(conn: Conn, agent_id: uuid.UUID, core_tier: str) -> str:
    """Billing's record, or (for an agent billing has never seen) the core's."""
    customer = await repo.get_customer(conn, agent_id)
    return customer.tier if customer is not None else core_tier


async def change_tier(
    b: Billing,
    conn: Conn,
    agent_id: uuid.UUID,
    new_tier: str,
    *,
    core_tier: str,
    actor: str,
    reason: str,
    at: datetime,
    subscription_id: uuid.UUID | None = None,
) -> bool:
    """Record the agent's new tier (audit + `tier.changed`); True when it changed."""
    customer = await repo.ensure_customer(conn, agent_id, core_tier, at)
    if customer.tier == new_tier:
        return False
    await repo.set_tier(conn, agent_id, new_tier, at)
    details = {"from": customer.tier, "to": new_tier, "reason": reason}
    await audit_repo.append(
        conn,
        agent_id=agent_id,
        subscription_id=subscription_id,
        action="tier.changed",
        actor=actor,
        details=details,
        at=at,
    )
    await webhooks.publish(
        conn,
        b.queue,
        "tier.changed",
        agent_id=agent_id,
        data={"agent_id": str(agent_id), **details},
        at=at,
    )
    return True


async def push_tier(b: Billing, agent_id: uuid.UUID, tier: str) -> None:
    """Tell the payment core (idempotent); call before the caller's commit, under
    the agent's lock. Defers the check-up first (module docstring)."""
    core_before = (await b.dispatcher.usage(agent_id)).tier.value
    await schedule_tier_check(b, agent_id, core_before)
    await b.dispatcher.set_tier(agent_id, Tier(tier), actor=ACTOR)


async def schedule_tier_check(
    b: Billing, agent_id: uuid.UUID, core_before: str, delay: float = TIER_CHECK_DELAY_SECONDS
) -> None:
    """Defer `sync_tier` for the agent on the queue's own connection (committed now).

    One waiting check-up per agent is enough (queueing lock): it reads the tier
    when it runs. `core_before` is what to restore for an agent billing turns out
    to have no record of (its first workflow rolled back)."""
    deferrer = b.queue.configure_task(
        jobs.SYNC_TIER,
        queueing_lock=f"{jobs.SYNC_TIER}:{agent_id}",
        schedule_in={"seconds": delay},
    )
    with contextlib.suppress(AlreadyEnqueued):
        await deferrer.defer_async(agent_id=str(agent_id), core_before=core_before)


async def sync_tier(b: Billing, agent_id: uuid.UUID, core_before: str) -> str | None:
    """Push the tier billing recorded for the agent (under its lock); returns it.

    When the lock stays busy or the core is away, it defers a new check-up and
    ends (None) instead of failing: procrastinate's own retry would put this job
    back in the queue beside a check-up deferred meanwhile, which its queueing
    lock refuses."""
    try:
        return await _push_recorded_tier(b, agent_id, core_before)
    except (AgentBusy, PaymentCoreUnavailable) as exc:
        log.info(
            "billing.tier.check_postponed",
            extra={"agent_id": str(agent_id), "reason": type(exc).__name__},
        )
        await schedule_tier_check(b, agent_id, core_before, delay=TIER_CHECK_RETRY_SECONDS)
        return None


async def _push_recorded_tier(b: Billing, agent_id: uuid.UUID, core_before: str) -> str:
    async with b.db.agent_session(agent_id) as conn:
        assert conn is not None
        async with conn.transaction():
            customer = await repo.get_customer(conn, agent_id)
        tier = customer.tier if customer is not None else core_before
        core = (await b.dispatcher.usage(agent_id)).tier.value
        if core != tier:
            # A workflow's commit failed after its push: the core was ahead of billing.
            log.warning(
                "billing.tier.repaired",
                extra={"agent_id": str(agent_id), "core_tier": core, "billing_tier": tier},
            )
            await b.dispatcher.set_tier(agent_id, Tier(tier), actor=ACTOR)
        return tier
