"""An agent's tier as billing records it, and pushing it into the payment core.

Billing is the source of truth for the tier; the core enforces it (fees,
limits) and learns it through `SetTier`, which is idempotent. Callers push
inside their transaction, before it commits: if the push fails, nothing is
recorded; if the commit fails after the push, the next workflow for the agent
pushes again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.billing.audit import repository as audit_repo
from services.billing.customers import repository as repo
from services.billing.dbtypes import Conn
from services.billing.runtime import Billing
from services.billing.webhooks import service as webhooks
from services.payment_tee.core.tiers import Tier

ACTOR = "billing"


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
    """Tell the payment core (idempotent); call before the caller's commit."""
    await b.dispatcher.set_tier(agent_id, Tier(tier), actor=ACTOR)
