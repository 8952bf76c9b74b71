"""Upgrade quotes: what a tier change costs now, bound to a rate, and how an invoice is
priced from a quote (in the quote's asset, or another asset at its current rate).

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
one upgrade.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from services.billing.dbtypes import Conn
from services.billing.errors import InvalidRequest, NotAnUpgrade, QuoteExpired, QuoteMismatch
from services.billing.invoices import repository as invoices_repo
from services.billing.money import prorate_usd_cents, usd_cents_to_minor
from services.billing.periods import add_months, remaining_seconds, whole_seconds
from services.billing.plans.repository import Plan
from services.billing.rates.service import Rate, asset_spec
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as subs_repo
from services.billing.subscriptions.repository import Subscription
from services.billing.upgrades import repository as repo
from services.billing.upgrades.repository import Quote
from services.common.clock import rfc3339
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
    if not still_applies(quote, current, live, target, now):
        raise QuoteExpired(
            "the subscription changed since this quote; ask for a new one",
            quote_id=str(quote.id),
            reason="superseded",
        )


def still_applies(
    quote: Quote, current: Plan, live: Subscription | None, target: Plan, now: datetime
) -> bool:
    """Whether the quote still buys what it was computed for: same kind of purchase,
    same subscription and cycle, from the same paid price level."""
    try:
        terms = upgrade_terms(current, live, target, now)
    except NotAnUpgrade:
        return False
    return (terms.kind, terms.subscription_id, terms.cycle, terms.level_from_usd_cents) == (
        quote.kind,
        quote.subscription_id,
        quote.cycle,
        quote.level_from_usd_cents,
    )


@dataclass(frozen=True)
class Pricing:
    """What an invoice asks for: an amount of an asset, and the rate that converted it."""

    asset: str
    amount_minor: int
    rate_value: Decimal
    rate_source: str
    rate_fetched_at: datetime
    rate_stale: bool


def quote_pricing(quote: Quote) -> Pricing:
    return Pricing(
        quote.asset,
        quote.amount_minor,
        quote.rate_value,
        quote.rate_source,
        quote.rate_fetched_at,
        quote.rate_stale,
    )


def price_in(quote: Quote, rate: Rate) -> Pricing:
    """The quote's USD cents in `rate`'s asset, half up (the quote's own amount when the
    asset is the quote's: a quote binds its rate)."""
    if rate.asset == quote.asset:
        return quote_pricing(quote)
    amount = usd_cents_to_minor(quote.usd_cents, rate.usd_per_unit, asset_spec(rate.asset).decimals)
    if amount > MAX_AMOUNT:
        raise InvalidRequest("the converted amount exceeds the largest amount the ledger holds")
    return Pricing(rate.asset, amount, rate.usd_per_unit, rate.source, rate.fetched_at, rate.stale)
