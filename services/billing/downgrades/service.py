"""Downgrades: at period end by default, or immediately with a refund of the unused part.

The refund rule (docs/billing.md): the current period was paid by one or more
invoices, each buying a price level (from -> to, in USD cents) over the
seconds it covered. Moving down to a plan priced T gives back, of every
invoice whose level reaches above T, the share of what it was paid (in the
asset, as paid) for the part of its level above T and the seconds still
remaining, rounded down:

    refund = floor(paid * (top - max(from, T)) * R / ((to - from) * covered))

So a refund never exceeds what was paid for the unused part of that period,
whatever the exchange rate did in between, and an upgrade followed by a
downgrade in the same period never yields money. Like an upgrade, an immediate
downgrade is two transactions around the payment-core refunds, under the
agent's lock; each refund's idempotency key is its own id, recorded first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.billing.audit import repository as audit_repo
from services.billing.customers import service as customers
from services.billing.dbtypes import Conn
from services.billing.downgrades import repository as repo
from services.billing.downgrades.repository import Downgrade, Refund
from services.billing.invoices import repository as invoices_repo
from services.billing.invoices.repository import Invoice
from services.billing.money import refund_share
from services.billing.periods import remaining_seconds
from services.billing.plans.repository import Plan
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as subs_repo
from services.billing.subscriptions import service as subscriptions
from services.billing.subscriptions.repository import Subscription
from services.billing.webhooks import service as webhooks
from services.common.clock import rfc3339
from services.payment_tee.core.commands import RefundCommand

FREE = "free"
REFUND_SCOPE = "billing:refund"


@dataclass(frozen=True)
class RefundShare:
    invoice: Invoice
    usd_cents: int
    amount_minor: int
    level_top_before: int
    level_top_after: int
    # The unused part of an invoice paid on-chain: not refunded automatically.
    withheld_usd_cents: int = 0


def target_level(target: Plan, sub: Subscription) -> int:
    """The price level the period keeps after moving down to `target`."""
    if target.code == FREE:
        return 0
    return min(target.price_usd_cents, sub.period_price_usd_cents)


def refund_shares(layers: list[Invoice], level: int, now: datetime) -> list[RefundShare]:
    """What each paid invoice of the period gives back when the level drops to `level`."""
    shares = []
    for invoice in layers:
        top = invoice.level_top_usd_cents
        new_top = max(invoice.level_from_usd_cents, level)
        if new_top >= top:
            continue
        span = invoice.level_to_usd_cents - invoice.level_from_usd_cents
        remaining = remaining_seconds(now, invoice.period_end, invoice.covered_seconds)
        amount = refund_share(
            invoice.amount_minor, top - new_top, span, remaining, invoice.covered_seconds
        )
        amount = min(amount, invoice.amount_minor - invoice.refunded_minor)
        usd = refund_share(
            invoice.usd_cents, top - new_top, span, remaining, invoice.covered_seconds
        )
        if invoice.rail == invoices_repo.CRYPTO:
            # Paid on-chain, not from the balance: there is no payment-core charge to
            # refund, and billing cannot send coins (the key server holds only public
            # keys). The level still drops; what is owed back is an operator's call.
            shares.append(RefundShare(invoice, 0, 0, top, new_top, withheld_usd_cents=usd))
            continue
        shares.append(RefundShare(invoice, usd, amount, top, new_top))
    return shares


async def start_immediate(
    conn: Conn,
    sub: Subscription,
    target: Plan,
    now: datetime,
    *,
    key: str | None = None,
    fingerprint: bytes | None = None,
) -> Downgrade:
    """Phase 1: record the downgrade and its refunds (amounts fixed) before posting any,
    under the client's Idempotency-Key: a retry finds it instead of starting another."""
    layers = await invoices_repo.paid_in_cycle(conn, sub.id, sub.cycle)
    shares = refund_shares(layers, target_level(target, sub), now)
    downgrade = Downgrade(
        id=uuid.uuid4(),
        agent_id=sub.agent_id,
        subscription_id=sub.id,
        from_plan_code=sub.plan_code,
        to_plan_code=target.code,
        status=repo.PENDING,
        created_at=now,
        applied_at=None,
        idempotency_key=key,
        request_hash=fingerprint,
    )
    refunds = [
        Refund(
            id=uuid.uuid4(),
            downgrade_id=downgrade.id,
            invoice_id=share.invoice.id,
            agent_id=sub.agent_id,
            usd_cents=share.usd_cents,
            asset=share.invoice.asset,
            amount_minor=share.amount_minor,
            level_top_before=share.level_top_before,
            level_top_after=share.level_top_after,
            status=repo.PENDING,
            receipt=None,
            created_at=now,
            posted_at=None,
        )
        for share in shares
    ]
    await repo.insert_downgrade(conn, downgrade, refunds)
    for share in shares:
        if share.withheld_usd_cents > 0:
            await audit_repo.append(
                conn,
                agent_id=sub.agent_id,
                subscription_id=sub.id,
                action="invoice.refund_withheld",
                actor="billing",
                details={
                    "invoice_id": str(share.invoice.id),
                    "downgrade_id": str(downgrade.id),
                    "usd_cents": share.withheld_usd_cents,
                    "asset": share.invoice.asset,
                    "amount_paid": share.invoice.amount_minor,
                    "reason": "paid_on_chain",
                },
                at=now,
            )
    return downgrade


def refund_command(refund: Refund, charge_id: uuid.UUID) -> RefundCommand:
    return RefundCommand(
        charge_id=charge_id,
        amount=refund.amount_minor,
        idempotency_key=f"refund:{refund.id}",
        scope=REFUND_SCOPE,
        actor="billing",
        memo=f"downgrade {refund.downgrade_id}",
    )


async def complete_immediate(b: Billing, conn: Conn, downgrade: Downgrade) -> dict[str, Any]:
    """Phase 2: post the refunds (idempotent), then apply. Returns the answer (also
    kept on the downgrade, so a replay of the request gets it again)."""
    async with conn.transaction():
        refunds = await repo.refunds_of(conn, downgrade.id)
        paid = {r.invoice_id: await invoices_repo.get(conn, r.invoice_id) for r in refunds}
    receipts: dict[uuid.UUID, dict[str, Any]] = {}
    for refund in refunds:
        invoice = paid[refund.invoice_id]
        if refund.amount_minor == 0 or invoice is None or invoice.charge_id is None:
            continue
        result = await b.dispatcher.refund(refund_command(refund, invoice.charge_id))
        receipts[refund.id] = result.receipt.to_wire()
    async with conn.transaction():
        body = await _apply(b, conn, downgrade, refunds, receipts)
        await customers.push_tier(b, downgrade.agent_id, downgrade.to_plan_code)
    return body


async def _apply(
    b: Billing,
    conn: Conn,
    downgrade: Downgrade,
    refunds: list[Refund],
    receipts: dict[uuid.UUID, dict[str, Any]],
) -> dict[str, Any]:
    now = b.clock.now()
    for refund in refunds:
        invoice = await invoices_repo.get(conn, refund.invoice_id)
        assert invoice is not None
        await invoices_repo.update(
            conn,
            replace(
                invoice,
                level_top_usd_cents=refund.level_top_after,
                refunded_minor=invoice.refunded_minor + refund.amount_minor,
            ),
        )
        posted = replace(refund, status=repo.POSTED, receipt=receipts.get(refund.id), posted_at=now)
        await repo.update_refund(conn, posted)
        if refund.amount_minor > 0:
            await _record_refund(b, conn, posted, invoice, now)
    sub = await subs_repo.get(conn, downgrade.subscription_id)
    assert sub is not None
    if downgrade.to_plan_code == FREE:
        await subscriptions.close_subscription(
            b, conn, sub, subs_repo.CANCELLED, reason="downgraded_immediately", at=now
        )
    else:
        layers = await invoices_repo.paid_in_cycle(conn, sub.id, sub.cycle)
        level = max((i.level_top_usd_cents for i in layers), default=0)
        sub = replace(
            sub,
            plan_code=downgrade.to_plan_code,
            period_price_usd_cents=level,
            scheduled_plan_code=None,
            updated_at=now,
        )
        await subs_repo.update(conn, sub)
    await customers.change_tier(
        b,
        conn,
        downgrade.agent_id,
        downgrade.to_plan_code,
        core_tier=downgrade.from_plan_code,
        actor="billing",
        reason="downgrade_immediate",
        at=now,
        subscription_id=sub.id,
    )
    body = {
        "tier": downgrade.to_plan_code,
        "effective": "immediate",
        "effective_at": rfc3339(downgrade.created_at),
        "refund": refund_summary(refunds, receipts),
    }
    await repo.mark_applied(conn, downgrade.id, now, body)
    return body


def refund_summary(
    refunds: list[Refund], receipts: dict[uuid.UUID, dict[str, Any]]
) -> dict[str, Any] | None:
    given = [r for r in refunds if r.amount_minor > 0]
    if not given:
        return None
    ordered = [receipts[r.id] for r in given if r.id in receipts]
    return {
        "usd_cents": sum(r.usd_cents for r in given),
        "asset": given[0].asset,
        "amount": sum(r.amount_minor for r in given),
        "receipt": ordered[0] if ordered else None,
        "receipts": ordered,
    }


async def _record_refund(
    b: Billing, conn: Conn, refund: Refund, invoice: Invoice, at: datetime
) -> None:
    data = {
        "refund_id": str(refund.id),
        "invoice_id": str(invoice.id),
        "agent_id": str(refund.agent_id),
        "subscription_id": str(invoice.subscription_id) if invoice.subscription_id else None,
        "usd_cents": refund.usd_cents,
        "asset": refund.asset,
        "amount": refund.amount_minor,
        "refunded_at": rfc3339(at),
        "receipt": refund.receipt,
    }
    await audit_repo.append(
        conn,
        agent_id=refund.agent_id,
        subscription_id=invoice.subscription_id,
        action="invoice.refunded",
        actor="billing",
        details=data,
        at=at,
    )
    await webhooks.publish(
        conn, b.queue, "invoice.refunded", agent_id=refund.agent_id, data=data, at=at
    )


async def schedule_at_period_end(
    b: Billing, conn: Conn, sub: Subscription, target: Plan, now: datetime
) -> Subscription:
    scheduled = replace(sub, scheduled_plan_code=target.code, updated_at=now)
    await subs_repo.update(conn, scheduled)
    await subscriptions.record(
        b,
        conn,
        "subscription.downgrade_scheduled",
        scheduled,
        now,
        to_tier=target.code,
        effective_at=rfc3339(sub.current_period_end),
    )
    return scheduled
