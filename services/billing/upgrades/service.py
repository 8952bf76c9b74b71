"""Upgrade quotes and upgrades: what a tier change costs now, and charging it.

The proration rule (docs/billing.md):

* On an *active* subscription, the period [start, end) is L seconds long and
  R = whole seconds from now to end (clamped to [0, L]). The period has been
  paid up to a price level P (its `period_price_usd_cents`); moving to a plan
  priced Q costs round_half_up((Q - P) * R / L) USD cents, converted half up
  into the asset. The next renewal, at `end`, is at Q.
* Without an active subscription (free, comped, lapsed, cancelled, or past
  due), an upgrade buys a new period starting at the quote's instant, at the
  full price; a past-due subscription's unpaid invoice is voided and replaced.

A quote is recomputed by the server from its own state and binds the rate it
used; it expires after BILLING_QUOTE_TTL_SECONDS (5 minutes) and buys at most
one upgrade. Upgrading is two transactions around the payment-core charge,
under the agent's lock: the first records the intent (an open invoice and the
request's idempotency record), the second applies it once the core answered.
A refusal (insufficient funds) removes the intent: nothing changes. A crash in
between leaves the intent, which the next workflow for that agent (or the
renewal sweep) completes with the same charge key: it can never charge twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.billing.customers import service as customers
from services.billing.dbtypes import Conn
from services.billing.errors import InvalidRequest, NotAnUpgrade, QuoteExpired, QuoteMismatch
from services.billing.invoices import repository as invoices_repo
from services.billing.invoices import service as invoices
from services.billing.invoices.repository import Invoice, InvoiceLine
from services.billing.money import prorate_usd_cents, usd_cents_to_minor
from services.billing.periods import add_months, remaining_seconds, whole_seconds
from services.billing.plans.repository import Plan
from services.billing.rates.service import Rate, asset_spec
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as subs_repo
from services.billing.subscriptions import service as subscriptions
from services.billing.subscriptions.repository import Subscription
from services.billing.upgrades import repository as repo
from services.billing.upgrades.repository import Quote, UpgradeRequest
from services.common.clock import rfc3339
from services.payment_tee.core.errors import PaymentError
from services.payment_tee.core.money import MAX_AMOUNT


@dataclass(frozen=True)
class UpgradeTerms:
    kind: str  # "proration" (same period, price difference) or "cycle" (a new period)
    from_plan: str
    subscription_id: uuid.UUID | None
    cycle: int | None
    usd_cents: int
    period_start: datetime  # what the charge pays for: [period_start, period_end)
    period_end: datetime
    covered_seconds: int
    level_from_usd_cents: int
    level_to_usd_cents: int
    period_seconds: int


def upgrade_terms(
    current: Plan, live: Subscription | None, target: Plan, now: datetime
) -> UpgradeTerms:
    """What moving from `current` to `target` costs at `now` (raises NotAnUpgrade)."""
    if live is not None and live.status == subs_repo.ACTIVE:
        if target.rank <= current.rank:
            raise NotAnUpgrade(
                f"{target.code} is not above the current tier {current.code}",
                tier=target.code,
                current_tier=current.code,
            )
        period = whole_seconds(live.current_period_start, live.current_period_end)
        remaining = remaining_seconds(now, live.current_period_end, period)
        paid_level = live.period_price_usd_cents
        level_to = max(paid_level, target.price_usd_cents)
        return UpgradeTerms(
            kind=invoices_repo.PRORATION,
            from_plan=current.code,
            subscription_id=live.id,
            cycle=live.cycle,
            usd_cents=prorate_usd_cents(level_to - paid_level, remaining, period),
            period_start=live.current_period_end - timedelta(seconds=remaining),
            period_end=live.current_period_end,
            covered_seconds=remaining,
            level_from_usd_cents=paid_level,
            level_to_usd_cents=level_to,
            period_seconds=period,
        )
    # Past due: the tier was kept on credit; buying it again (or more) is allowed.
    same_allowed = live is not None and live.status == subs_repo.PAST_DUE
    if target.rank < current.rank or (target.rank == current.rank and not same_allowed):
        raise NotAnUpgrade(
            f"{target.code} is not above the current tier {current.code}",
            tier=target.code,
            current_tier=current.code,
        )
    end = add_months(now, 1)
    period = whole_seconds(now, end)
    return UpgradeTerms(
        kind=invoices_repo.CYCLE,
        from_plan=current.code,
        subscription_id=None,
        cycle=None,
        usd_cents=target.price_usd_cents,
        period_start=now,
        period_end=end,
        covered_seconds=period,
        level_from_usd_cents=0,
        level_to_usd_cents=target.price_usd_cents,
        period_seconds=period,
    )


async def create_quote(
    b: Billing,
    conn: Conn,
    agent_id: uuid.UUID,
    current: Plan,
    live: Subscription | None,
    target: Plan,
    rate: Rate,
    now: datetime,
) -> Quote:
    terms = upgrade_terms(current, live, target, now)
    amount = usd_cents_to_minor(terms.usd_cents, rate.usd_per_unit, asset_spec(rate.asset).decimals)
    if amount > MAX_AMOUNT:
        raise InvalidRequest("the converted amount exceeds the largest amount the ledger holds")
    quote = Quote(
        id=uuid.uuid4(),
        agent_id=agent_id,
        plan_code=target.code,
        from_plan_code=terms.from_plan,
        kind=terms.kind,
        subscription_id=terms.subscription_id,
        cycle=terms.cycle,
        usd_cents=terms.usd_cents,
        asset=rate.asset,
        amount_minor=amount,
        rate_value=rate.usd_per_unit,
        rate_source=rate.source,
        rate_fetched_at=rate.fetched_at,
        rate_stale=rate.stale,
        period_start=terms.period_start,
        period_end=terms.period_end,
        covered_seconds=terms.covered_seconds,
        level_from_usd_cents=terms.level_from_usd_cents,
        level_to_usd_cents=terms.level_to_usd_cents,
        next_renewal_usd_cents=target.price_usd_cents,
        created_at=now,
        expires_at=now + timedelta(seconds=b.settings.billing_quote_ttl_seconds),
        used_at=None,
    )
    await repo.insert_quote(conn, quote)
    return quote


def quote_wire(quote: Quote, period_seconds: int | None = None) -> dict[str, Any]:
    proration = None
    if quote.kind == invoices_repo.PRORATION:
        proration = {
            "seconds_remaining": quote.covered_seconds,
            "period_seconds": period_seconds,
            "price_delta_usd_cents": quote.level_to_usd_cents - quote.level_from_usd_cents,
        }
    return {
        "quote_id": str(quote.id),
        "tier": quote.plan_code,
        "from_tier": quote.from_plan_code,
        "charge_now": {
            "usd_cents": quote.usd_cents,
            "asset": quote.asset,
            "amount": quote.amount_minor,
        },
        "rate": {
            "value": str(quote.rate_value),
            "source": quote.rate_source,
            "fetched_at": rfc3339(quote.rate_fetched_at),
            "stale": quote.rate_stale,
        },
        "effective": "immediate",
        "proration": proration,
        "next_renewal": {
            "at": rfc3339(quote.period_end),
            "usd_cents": quote.next_renewal_usd_cents,
        },
        "expires_at": rfc3339(quote.expires_at),
    }


def check_quote(
    quote: Quote,
    agent_id: uuid.UUID,
    tier: str | None,
    now: datetime,
    current: Plan,
    live: Subscription | None,
    target: Plan,
) -> None:
    """A client's quote still buys exactly what it was computed for, or a clear refusal."""
    if quote.agent_id != agent_id:
        raise QuoteMismatch("this quote was made for another agent", quote_id=str(quote.id))
    if tier is not None and tier != quote.plan_code:
        raise QuoteMismatch(
            f"this quote is for {quote.plan_code}, not {tier}",
            quote_id=str(quote.id),
            quote_tier=quote.plan_code,
        )
    if quote.used_at is not None:
        raise QuoteExpired("this quote was already used", quote_id=str(quote.id), reason="used")
    if now > quote.expires_at:
        raise QuoteExpired(
            "this quote has expired; ask for a new one",
            quote_id=str(quote.id),
            reason="expired",
            expired_at=rfc3339(quote.expires_at),
        )
    try:
        terms = upgrade_terms(current, live, target, now)
    except NotAnUpgrade:
        terms = None
    if terms is None or (
        terms.kind,
        terms.subscription_id,
        terms.cycle,
        terms.level_from_usd_cents,
    ) != (quote.kind, quote.subscription_id, quote.cycle, quote.level_from_usd_cents):
        raise QuoteExpired(
            "the subscription changed since this quote; ask for a new one",
            quote_id=str(quote.id),
            reason="superseded",
        )


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


async def record_upgrade(
    conn: Conn,
    agent_id: uuid.UUID,
    key: str,
    request_hash: bytes,
    quote: Quote,
    now: datetime,
) -> UpgradeRequest:
    """Phase 1: the intent (open invoice + idempotency record), committed before any charge.

    The charge's idempotency key is the client's Idempotency-Key, scoped to
    the agent's upgrades: it travels from the request to the ledger row.
    """
    if not await repo.use_quote(conn, quote.id, now):
        raise QuoteExpired("this quote was already used", quote_id=str(quote.id), reason="used")
    invoice = Invoice(
        id=uuid.uuid4(),
        agent_id=agent_id,
        subscription_id=quote.subscription_id,
        cycle=quote.cycle,
        kind=quote.kind,
        status=invoices_repo.OPEN,
        plan_code=quote.plan_code,
        usd_cents=quote.usd_cents,
        asset=quote.asset,
        amount_minor=quote.amount_minor,
        rate_value=quote.rate_value,
        rate_source=quote.rate_source,
        rate_fetched_at=quote.rate_fetched_at,
        rate_stale=quote.rate_stale,
        period_start=quote.period_start,
        period_end=quote.period_end,
        covered_seconds=quote.covered_seconds,
        level_from_usd_cents=quote.level_from_usd_cents,
        level_to_usd_cents=quote.level_to_usd_cents,
        level_top_usd_cents=quote.level_to_usd_cents,
        refunded_minor=0,
        charge_scope=upgrade_scope(agent_id),
        charge_key=key,
        charge_id=None,
        receipt=None,
        attempts=0,
        last_attempt_at=None,
        last_error=None,
        created_at=now,
        paid_at=None,
        voided_at=None,
    )
    await invoices_repo.insert(conn, invoice, _lines(quote, invoice.id))
    request = UpgradeRequest(agent_id, key, request_hash, quote.id, invoice.id, None, now, None)
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
    await invoices.record_paid(b, conn, paid, now)
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
    body = {
        "tier": paid.plan_code,
        "subscription": subscriptions.summary(sub),
        "invoice": invoices.wire(paid),
        "receipt": receipt,
    }
    await repo.complete_request(conn, request.agent_id, request.idempotency_key, body, now)
    return body
