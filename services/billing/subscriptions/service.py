"""Subscription state changes shared by upgrades, downgrades, renewals and operators,
and the read model of an agent's tier.

Every change writes an audit row and publishes its webhook in the caller's
transaction (outbox).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.billing.audit import repository as audit_repo
from services.billing.dbtypes import Conn
from services.billing.invoices import repository as invoices_repo
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as repo
from services.billing.subscriptions.repository import Subscription
from services.billing.webhooks import service as webhooks
from services.common.clock import rfc3339

_ENDED_EVENT = {repo.CANCELLED: "subscription.cancelled", repo.LAPSED: "subscription.lapsed"}


def summary(sub: Subscription | None) -> dict[str, Any] | None:
    """The subscription as agents see it (GET /v2/me/tier)."""
    if sub is None:
        return None
    return {
        "status": sub.status,
        "current_period_end": rfc3339(sub.current_period_end),
        "grace_until": rfc3339(sub.grace_until) if sub.grace_until else None,
    }


def event_data(sub: Subscription, **extra: Any) -> dict[str, Any]:
    """The subscription as webhooks and the audit trail describe it."""
    return {
        "subscription_id": str(sub.id),
        "agent_id": str(sub.agent_id),
        "tier": sub.plan_code,
        "status": sub.status,
        "cycle": sub.cycle,
        "current_period_start": rfc3339(sub.current_period_start),
        "current_period_end": rfc3339(sub.current_period_end),
        "grace_until": rfc3339(sub.grace_until) if sub.grace_until else None,
        "consecutive_failures": sub.consecutive_failures,
        "next_attempt_at": rfc3339(sub.next_attempt_at) if sub.next_attempt_at else None,
        **extra,
    }


async def record(
    b: Billing,
    conn: Conn,
    event: str,
    sub: Subscription,
    at: datetime,
    *,
    actor: str = "billing",
    publish: bool = True,
    **extra: Any,
) -> None:
    """Audit row + webhook for a subscription event, in the caller's transaction."""
    data = event_data(sub, **extra)
    await audit_repo.append(
        conn,
        agent_id=sub.agent_id,
        subscription_id=sub.id,
        action=event,
        actor=actor,
        details=data,
        at=at,
    )
    if publish:
        await webhooks.publish(conn, b.queue, event, agent_id=sub.agent_id, data=data, at=at)


async def void_open_invoices(conn: Conn, sub: Subscription, at: datetime) -> list[uuid.UUID]:
    voided = []
    for invoice in await invoices_repo.open_for_subscription(conn, sub.id):
        await invoices_repo.update(conn, replace(invoice, status=invoices_repo.VOID, voided_at=at))
        voided.append(invoice.id)
    return voided


async def close_subscription(
    b: Billing,
    conn: Conn,
    sub: Subscription,
    status: str,
    *,
    reason: str,
    at: datetime,
    actor: str = "billing",
) -> Subscription:
    """End a live subscription (cancelled or lapsed); its open invoices are voided.

    The tier is the caller's business (change_tier + push_tier).
    """
    assert status in _ENDED_EVENT
    voided = await void_open_invoices(conn, sub, at)
    ended = replace(
        sub,
        status=status,
        next_attempt_at=None,
        scheduled_plan_code=None,
        updated_at=at,
        ended_at=at,
    )
    await repo.update(conn, ended)
    await record(
        b,
        conn,
        _ENDED_EVENT[status],
        ended,
        at,
        actor=actor,
        reason=reason,
        voided_invoices=[str(i) for i in voided],
    )
    return ended
