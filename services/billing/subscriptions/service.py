"""Subscription state changes shared by upgrades, downgrades, renewals and operators,
and the read model of an agent's tier.

Every change writes an audit row and publishes its webhook in the caller's
transaction (outbox).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.billing.audit import repository as audit_repo
from services.billing.dbtypes import Conn
from services.billing.errors import RenewalPending
from services.billing.invoices import repository as invoices_repo
from services.billing.invoices import service as invoices
from services.billing.invoices.repository import Invoice
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as repo
from services.billing.subscriptions.repository import Subscription
from services.billing.webhooks import service as webhooks
from services.common.clock import rfc3339
from services.payment_client.errors import PaymentCoreUnavailable
from services.payment_tee.core.errors import PaymentError

log = logging.getLogger("sealpay.billing.subscriptions")

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


async def renewal_in_flight(conn: Conn, live: Subscription | None, now: datetime) -> Invoice | None:
    """The next cycle's invoice, when it is issued but its charge has no recorded
    outcome (the payment core failed at period end); else None."""
    if live is None or live.status != repo.ACTIVE or live.current_period_end > now:
        return None
    issued = await invoices_repo.get_cycle_invoice(conn, live.id, live.cycle + 1)
    return issued if issued is not None and issued.status == invoices_repo.OPEN else None


async def refuse_during_renewal(conn: Conn, live: Subscription | None, now: datetime) -> None:
    """A plan change waits while a renewal is in flight. The renewal sweep retries
    that charge under the same key; a plan changed first would be overwritten by
    the older invoice, at the older plan, once it is paid."""
    issued = await renewal_in_flight(conn, live, now)
    if issued is not None:
        raise RenewalPending(
            "the subscription's renewal is being charged; try the plan change again "
            "once it is recorded (the renewal sweep retries it every minute)",
            invoice_id=str(issued.id),
        )


async def void_open_invoices(
    b: Billing, conn: Conn, sub: Subscription, at: datetime
) -> list[uuid.UUID]:
    """Void the subscription's open invoices, each one's charge settled in the core
    first (`invoices.void_invoice`). A charge found posted stays on its void
    invoice with a refund due, posted after the commit by `settle_void_refunds`."""
    voided = []
    for invoice in await invoices_repo.open_for_subscription(conn, sub.id):
        await invoices_repo.update(conn, await invoices.void_invoice(b, invoice, at))
        voided.append(invoice.id)
    return voided


async def settle_void_refunds(
    b: Billing, conn: Conn, agent_id: uuid.UUID, at: datetime
) -> list[uuid.UUID]:
    """Post the refunds that committed voids still owe (after the void's commit, by
    the workflow that voided, the agent's next workflow or the next sweep).

    Best effort: the void is committed and the refund stays due, so a core that
    cannot be reached (or refuses) only delays it to the next try, and never
    fails the workflow that asked. Returns the invoices refunded now."""
    async with conn.transaction():
        due = await invoices_repo.void_refunds_due(conn, agent_id)
    refunded = []
    for invoice in due:
        try:
            await invoices.refund_voided_charge(b, conn, invoice, at)
        except (PaymentError, PaymentCoreUnavailable) as exc:
            log.warning(
                "billing.void_refund.deferred",
                extra={"invoice_id": str(invoice.id), "error": f"{type(exc).__name__}: {exc}"},
            )
            continue
        refunded.append(invoice.id)
    return refunded


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
    voided = await void_open_invoices(b, conn, sub, at)
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
