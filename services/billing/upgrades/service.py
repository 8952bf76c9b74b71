"""Upgrades: recording the intent, charging it, and applying a paid upgrade invoice.

Upgrading is two transactions around the payment, under the agent's lock:
the first records the intent (an open invoice and the request's idempotency
record), the second applies it once paid. On the balance rail the payment is
the payment core's charge: a refusal (insufficient funds) removes the intent,
so nothing changes; a crash in between leaves the intent, which the next
workflow for that agent (or the renewal sweep) completes with the same charge
key: it can never charge twice. On the crypto rail (services/billing/crypto)
the intent is answered with an invoice to pay on-chain, and applied here when
the key server reports the charge paid. Quotes and their pricing: quotes.py.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.billing.customers import service as customers
from services.billing.dbtypes import Conn
from services.billing.downgrades import repository as downgrades_repo
from services.billing.errors import QuoteExpired
from services.billing.invoices import repository as invoices_repo
from services.billing.invoices import service as invoices
from services.billing.invoices.repository import Invoice, InvoiceLine
from services.billing.plans import repository as plans_repo
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as subs_repo
from services.billing.subscriptions import service as subscriptions
from services.billing.subscriptions.repository import Subscription
from services.billing.upgrades import repository as repo
from services.billing.upgrades.quotes import Pricing, quote_pricing, still_applies
from services.billing.upgrades.repository import Quote, UpgradeRequest
from services.common.clock import rfc3339
from services.payment_tee.core.errors import ChargeCancelled, PaymentError


def _lines(quote: Quote, invoice_id: uuid.UUID) -> list[InvoiceLine]:
    if quote.kind == invoices_repo.PRORATION:
        description = (
            f"{quote.plan_code} (from {quote.from_plan_code}), prorated "
            f"{quote.covered_seconds} s to {rfc3339(quote.period_end)}"
        )
    else:
        description = (
            f"{quote.plan_code}, {rfc3339(quote.period_start)} to {rfc3339(quote.period_end)}"
        )
    return [
        InvoiceLine(
            invoice_id,
            1,
            description,
            quote.plan_code,
            quote.usd_cents,
            quote.period_start,
            quote.period_end,
        )
    ]


def upgrade_scope(agent_id: uuid.UUID) -> str:
    return f"billing:upgrade:{agent_id}"


CRYPTO_SCOPE = "billing:crypto"


def crypto_charge_key(invoice_id: uuid.UUID) -> str:
    """The key-server charge's Idempotency-Key: one invoice, one charge, however often asked."""
    return f"billing-invoice-{invoice_id}"


async def record_upgrade(
    conn: Conn,
    agent_id: uuid.UUID,
    key: str,
    request_hash: bytes,
    quote: Quote,
    now: datetime,
    *,
    rail: str = invoices_repo.BALANCE,
    pricing: Pricing | None = None,
) -> UpgradeRequest:
    """Phase 1: the intent (open invoice + idempotency record), committed before any charge.

    On the balance rail the charge's idempotency key is the client's
    Idempotency-Key, scoped to the agent's upgrades: it travels from the
    request to the ledger row. On the crypto rail it is derived from the
    invoice and sent to the key server, so one invoice has one charge.
    """
    if not await repo.use_quote(conn, quote.id, now):
        raise QuoteExpired("this quote was already used", quote_id=str(quote.id), reason="used")
    pricing = pricing or quote_pricing(quote)
    invoice_id = uuid.uuid4()
    crypto = rail == invoices_repo.CRYPTO
    invoice = Invoice(
        id=invoice_id,
        agent_id=agent_id,
        subscription_id=quote.subscription_id,
        cycle=quote.cycle,
        kind=quote.kind,
        status=invoices_repo.OPEN,
        plan_code=quote.plan_code,
        usd_cents=quote.usd_cents,
        asset=pricing.asset,
        amount_minor=pricing.amount_minor,
        rate_value=pricing.rate_value,
        rate_source=pricing.rate_source,
        rate_fetched_at=pricing.rate_fetched_at,
        rate_stale=pricing.rate_stale,
        period_start=quote.period_start,
        period_end=quote.period_end,
        covered_seconds=quote.covered_seconds,
        level_from_usd_cents=quote.level_from_usd_cents,
        level_to_usd_cents=quote.level_to_usd_cents,
        level_top_usd_cents=quote.level_to_usd_cents,
        refunded_minor=0,
        charge_scope=CRYPTO_SCOPE if crypto else upgrade_scope(agent_id),
        charge_key=crypto_charge_key(invoice_id) if crypto else key,
        charge_id=None,
        receipt=None,
        attempts=0,
        last_attempt_at=None,
        last_error=None,
        created_at=now,
        paid_at=None,
        voided_at=None,
        rail=rail,
    )
    await invoices_repo.insert(conn, invoice, _lines(quote, invoice.id))
    request = UpgradeRequest(
        agent_id, key, request_hash, quote.id, invoice.id, None, now, None, pay_with=rail
    )
    await repo.insert_request(conn, request)
    return request


async def release_upgrade(conn: Conn, request: UpgradeRequest) -> None:
    """The core refused the charge: remove the intent so nothing has changed."""
    await repo.delete_request(conn, request.agent_id, request.idempotency_key)
    await invoices_repo.delete(conn, request.invoice_id)
    await repo.release_quote(conn, request.quote_id)


async def complete_upgrade(b: Billing, conn: Conn, request: UpgradeRequest) -> dict[str, Any]:
    """Phase 2: charge (idempotent) and apply. Returns the response body.

    Runs under the agent's lock on `conn`, outside any transaction.
    """
    async with conn.transaction():
        invoice = await invoices_repo.get(conn, request.invoice_id)
        assert invoice is not None
        reason = (
            await _overtaken(b, conn, request) if invoice.status == invoices_repo.OPEN else None
        )
        if reason is not None:
            invoice = await _void_overtaken(b, conn, invoice, reason)
    if invoice.status == invoices_repo.VOID:
        # Voided before it completed (its subscription ended, or another upgrade
        # was paid meanwhile): the void settled its charge (cancelled, or kept
        # with a refund due, which the caller's settle_void_refunds posts);
        # nothing to apply, and the void invoice and its lines stay as the record.
        async with conn.transaction():
            await repo.delete_request(conn, request.agent_id, request.idempotency_key)
            await repo.release_quote(conn, request.quote_id)
        raise ChargeCancelled("the upgrade's invoice was voided before the upgrade completed")
    receipt: dict[str, Any] | None = None
    if invoice.amount_minor > 0:
        try:
            result = await b.dispatcher.charge(invoices.charge_command(invoice))
        except PaymentError:
            async with conn.transaction():
                await release_upgrade(conn, request)
            raise
        receipt = result.receipt.to_wire()
    async with conn.transaction():
        body = await _apply_upgrade(b, conn, request, invoice, receipt)
        await customers.push_tier(b, request.agent_id, invoice.plan_code)
    return body


async def overtaken_because(conn: Conn, quote: Quote, core_tier: str, now: datetime) -> str | None:
    """Why an upgrade priced by `quote` can no longer be applied as bought, or None.

    An intent waits between its phases when an answer is lost (the payment core's,
    the key server's) or a crypto invoice awaits its payment; meanwhile the agent
    may change plans another way. Applied anyway, it would sell the same period
    twice or change a subscription something else is about to change:

    * `superseded`: the quote no longer buys what it was computed for (another
      upgrade, a downgrade, a renewal moved the subscription);
    * `downgrade_pending`: an immediate downgrade is between its refund and its
      application, and would then close what this upgrade changed;
    * `renewal_pending`: the next cycle is invoiced at the current plan with no
      recorded outcome; once paid, it would write its plan back over this one.

    `core_tier` is the tier to assume for an agent billing has no record of."""
    current_code = await customers.current_tier(conn, quote.agent_id, core_tier)
    current = await plans_repo.get_plan(conn, current_code)
    target = await plans_repo.get_plan(conn, quote.plan_code)
    assert current is not None and target is not None
    live = await subs_repo.get_live(conn, quote.agent_id)
    if not still_applies(quote, current, live, target, now):
        return "superseded"
    if await downgrades_repo.pending_downgrades(conn, quote.agent_id):
        return "downgrade_pending"
    if await subscriptions.renewal_in_flight(conn, live, now) is not None:
        return "renewal_pending"
    return None


async def _overtaken(b: Billing, conn: Conn, request: UpgradeRequest) -> str | None:
    """Why a balance intent, resumed, must not be charged and applied (None: it may).

    Beyond `overtaken_because`: `period_elapsed` when the proration it prices has
    lost more of its period than a quote may wait (the core was out for longer):
    charged now, the agent would pay for time it spent on the old plan. A fresh
    request, priced at most a quote's lifetime ago, never trips it."""
    now = b.clock.now()
    quote = await repo.get_quote(conn, request.quote_id)
    assert quote is not None
    reason = await overtaken_because(conn, quote, quote.from_plan_code, now)
    if reason is None and quote.kind == invoices_repo.PRORATION and quote.usd_cents > 0:
        remaining = max(0.0, (quote.period_end - now).total_seconds())
        if remaining + b.settings.billing_quote_ttl_seconds < quote.covered_seconds:
            reason = "period_elapsed"
    return reason


async def _void_overtaken(b: Billing, conn: Conn, invoice: Invoice, reason: str) -> Invoice:
    """Void an overtaken upgrade's invoice, its charge settled in the core first."""
    now = b.clock.now()
    voided = await invoices.void_invoice(b, invoice, now)
    await invoices_repo.update(conn, voided)
    await invoices.record(b, conn, "invoice.voided", voided, now, reason=reason)
    return voided


async def _apply_upgrade(
    b: Billing,
    conn: Conn,
    request: UpgradeRequest,
    invoice: Invoice,
    receipt: dict[str, Any] | None,
) -> dict[str, Any]:
    now = b.clock.now()
    quote = await repo.get_quote(conn, request.quote_id)
    assert quote is not None
    paid, sub = await apply_paid_invoice(b, conn, invoice, quote, now, receipt=receipt)
    body = {
        "tier": paid.plan_code,
        "subscription": subscriptions.summary(sub),
        "invoice": invoices.wire(paid),
        "receipt": receipt,
    }
    await repo.complete_request(conn, request.agent_id, request.idempotency_key, body, now)
    return body


async def apply_paid_invoice(
    b: Billing,
    conn: Conn,
    invoice: Invoice,
    quote: Quote,
    now: datetime,
    *,
    receipt: dict[str, Any] | None = None,
    payment: dict[str, Any] | None = None,
) -> tuple[Invoice, Subscription]:
    """An upgrade invoice is paid: extend the subscription (proration) or start a new
    one (cycle), mark the invoice paid, audit and publish, and record the tier.

    Whatever the rail: `receipt` is the payment core's (balance), `payment`
    what arrived on-chain (crypto). The caller pushes the tier to the core
    (`customers.push_tier`) before committing.
    """
    created: Subscription | None = None
    if invoice.kind == invoices_repo.PRORATION:
        assert invoice.subscription_id is not None
        current = await subs_repo.get(conn, invoice.subscription_id)
        assert current is not None
        sub = replace(
            current,
            plan_code=invoice.plan_code,
            period_price_usd_cents=invoice.level_to_usd_cents,
            scheduled_plan_code=None,
            updated_at=now,
        )
        await subs_repo.update(conn, sub)
    else:
        live = await subs_repo.get_live(conn, invoice.agent_id)
        if live is not None:
            await subscriptions.close_subscription(
                b, conn, live, subs_repo.CANCELLED, reason="replaced_by_upgrade", at=now
            )
        sub = created = Subscription(
            id=uuid.uuid4(),
            agent_id=invoice.agent_id,
            plan_code=invoice.plan_code,
            status=subs_repo.ACTIVE,
            anchor_at=invoice.period_start,
            cycle=1,
            current_period_start=invoice.period_start,
            current_period_end=invoice.period_end,
            period_price_usd_cents=invoice.level_to_usd_cents,
            scheduled_plan_code=None,
            consecutive_failures=0,
            next_attempt_at=None,
            grace_until=None,
            created_at=now,
            updated_at=now,
            ended_at=None,
        )
        await subs_repo.insert(conn, sub)
        invoice = replace(invoice, subscription_id=sub.id, cycle=1)
    paid = replace(
        invoice,
        status=invoices_repo.PAID,
        charge_id=invoices.charge_id_of(receipt) if receipt else None,
        receipt=receipt,
        attempts=invoice.attempts + 1,
        last_attempt_at=now,
        paid_at=now,
    )
    await invoices_repo.update(conn, paid)
    if created is not None:
        await subscriptions.record(b, conn, "subscription.created", created, now)
    await invoices.record_paid(b, conn, paid, now, payment=payment)
    await customers.change_tier(
        b,
        conn,
        paid.agent_id,
        paid.plan_code,
        core_tier=quote.from_plan_code,
        actor="billing",
        reason="upgrade",
        at=now,
        subscription_id=sub.id,
    )
    return paid, sub
