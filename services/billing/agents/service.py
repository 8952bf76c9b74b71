"""The per-agent workflows behind the internal API: tier, quote, upgrade, downgrade, plan.

Each workflow that changes an agent takes the agent's lock first
(`Database.agent_session`) and then finishes whatever an earlier workflow for
that agent left between its two transactions (`settle_pending`): under the
lock, a pending intent is always an orphan of a crash, never a request in
flight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from services.billing.audit import repository as audit_repo
from services.billing.crypto import service as crypto
from services.billing.customers import repository as customers_repo
from services.billing.customers import service as customers
from services.billing.dbtypes import Conn
from services.billing.downgrades import repository as downgrades_repo
from services.billing.downgrades import service as downgrades
from services.billing.errors import (
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    IntentAbandoned,
    KeyServerRefused,
    KeyServerUnavailable,
    NotADowngrade,
    NotFound,
    SubscriptionPastDue,
    UnknownTier,
)
from services.billing.invoices.repository import BALANCE, CRYPTO
from services.billing.periods import whole_seconds
from services.billing.plans import repository as plans_repo
from services.billing.plans.repository import Plan
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as subs_repo
from services.billing.subscriptions import service as subscriptions
from services.billing.upgrades import quotes
from services.billing.upgrades import repository as upgrades_repo
from services.billing.upgrades import service as upgrades
from services.common.clock import rfc3339
from services.payment_tee.core.errors import PaymentError
from services.payment_tee.core.records import Usage
from services.payment_tee.core.tiers import Tier

log = logging.getLogger("sealpay.billing.agents")

UPGRADES = Counter(
    "sealpay_billing_upgrades_total",
    "Upgrade requests by outcome (applied, replayed).",
    ["outcome"],
)
DOWNGRADES = Counter(
    "sealpay_billing_downgrades_total",
    "Downgrades by when they take effect (period_end, immediate), or replayed.",
    ["effective"],
)

TIER_CODES = frozenset(t.value for t in Tier)
FREE = Tier.FREE.value

Reporter = Callable[..., None]


def tier_code(label: str) -> str:
    """free, pro or enterprise, case-insensitively; anything else is 422 unknown_tier."""
    code = label.strip().lower() if isinstance(label, str) else ""
    if code not in TIER_CODES:
        raise UnknownTier(
            f"unknown tier {label!r}; use free, pro or enterprise",
            tier=label,
            known=sorted(TIER_CODES),
        )
    return code


async def _plan(conn: Conn, code: str) -> Plan:
    plan = await plans_repo.get_plan(conn, code)
    if plan is None:
        raise UnknownTier(f"no plan {code!r} is configured", tier=code)
    return plan


@dataclass(frozen=True)
class _State:
    current: Plan
    live: subs_repo.Subscription | None


async def _state(conn: Conn, agent_id: uuid.UUID, usage: Usage, now: datetime) -> _State:
    """The agent's plan and live subscription, for a plan change at `now`."""
    tier = await customers.current_tier(conn, agent_id, usage.tier.value)
    live = await subs_repo.get_live(conn, agent_id)
    await subscriptions.refuse_during_renewal(conn, live, now)
    return _State(await _plan(conn, tier), live)


# --- reads -----------------------------------------------------------------------------


async def tier_view(b: Billing, agent_id: uuid.UUID) -> dict[str, Any]:
    usage = await b.dispatcher.usage(agent_id)
    async with b.db.transaction() as conn:
        tier = await customers.current_tier(conn, agent_id, usage.tier.value)
        plan = await _plan(conn, tier)
        latest = await subs_repo.get_latest(conn, agent_id)
    remaining = None if usage.limit is None else max(0, usage.limit - usage.transfers)
    return {
        "tier": plan.code,
        "label": plan.label,
        "current_month_count": usage.transfers,
        "limit": usage.limit,
        "remaining": remaining,
        "subscription": subscriptions.summary(latest),
    }


# --- quotes and upgrades -----------------------------------------------------------------


async def quote_upgrade(b: Billing, agent_id: uuid.UUID, label: str) -> dict[str, Any]:
    code = tier_code(label)
    usage = await b.dispatcher.usage(agent_id)
    now = b.clock.now()
    async with b.db.transaction() as conn:
        state = await _state(conn, agent_id, usage, now)
        target = await _plan(conn, code)
        quotes.upgrade_terms(state.current, state.live, target, now)  # refuse early
    rate = await b.rates.current(b.asset)
    async with b.db.transaction() as conn:
        await customers_repo.ensure_customer(conn, agent_id, usage.tier.value, now)
        state = await _state(conn, agent_id, usage, now)
        quote = await quotes.create_quote(
            b, conn, agent_id, state.current, state.live, target, rate, now
        )
    return quotes.quote_wire(quote, _period_seconds(state.live))


def _period_seconds(live: subs_repo.Subscription | None) -> int | None:
    if live is None or live.status != subs_repo.ACTIVE:
        return None
    return whole_seconds(live.current_period_start, live.current_period_end)


def request_hash(
    code: str | None, quote_id: uuid.UUID | None, pay_with: str = BALANCE, chain: str | None = None
) -> bytes:
    """The fingerprint of an upgrade request (a balance request's is unchanged by the rail)."""
    fields: dict[str, Any] = {"tier": code, "quote_id": str(quote_id) if quote_id else None}
    if pay_with != BALANCE:
        fields |= {"pay_with": pay_with, "chain": chain}
    canonical = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(canonical.encode()).digest()


@dataclass(frozen=True)
class UpgradeResult:
    body: dict[str, Any]
    replayed: bool
    status: int = 200  # 202 for a crypto invoice (the tier changes once it is paid)


def _status(pay_with: str) -> int:
    return crypto.ACCEPTED_STATUS if pay_with == CRYPTO else 200


async def upgrade(
    b: Billing,
    agent_id: uuid.UUID,
    label: str | None,
    quote_id: uuid.UUID | None,
    key: str,
    *,
    pay_with: str = BALANCE,
    chain: str | None = None,
) -> UpgradeResult:
    code = tier_code(label) if label is not None else None
    fingerprint = request_hash(code, quote_id, pay_with, chain)
    usage = await b.dispatcher.usage(agent_id)
    async with b.db.agent_session(agent_id) as conn:
        assert conn is not None
        await settle_pending(b, conn, agent_id)
        async with conn.transaction():
            earlier = await upgrades_repo.get_request(conn, agent_id, key)
        if earlier is not None:
            if earlier.request_hash != fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different upgrade request",
                    invoice_id=str(earlier.invoice_id),
                )
            if earlier.response is None:  # a crypto intent the key server has not answered
                raise KeyServerUnavailable(
                    "the invoice's charge could not be created yet; retry with the same "
                    "Idempotency-Key (the same charge is asked for, never a second one)",
                    invoice_id=str(earlier.invoice_id),
                )
            UPGRADES.labels("replayed").inc()
            return UpgradeResult(earlier.response, replayed=True, status=_status(earlier.pay_with))
        request = await record_upgrade_intent(
            b, conn, agent_id, usage, code, quote_id, key, fingerprint, chain=chain
        )
        if request.pay_with == CRYPTO:
            body = await crypto.open_charge(b, conn, request)
        else:
            body = await upgrades.complete_upgrade(b, conn, request)
    UPGRADES.labels("invoiced" if request.pay_with == CRYPTO else "applied").inc()
    return UpgradeResult(body, replayed=False, status=_status(request.pay_with))


async def record_upgrade_intent(
    b: Billing,
    conn: Conn,
    agent_id: uuid.UUID,
    usage: Usage,
    code: str | None,
    quote_id: uuid.UUID | None,
    key: str,
    fingerprint: bytes,
    *,
    chain: str | None = None,
) -> upgrades_repo.UpgradeRequest:
    """Phase 1 of an upgrade (under the agent's lock): with the client's quote, or
    with a fresh one computed now. Committed before anything is charged.

    With a `chain` (pay_with crypto) the invoice is priced in the chain's asset
    at its current rate (a quote in that asset keeps its own rate) and the
    key-server charge to ask for is recorded with it.
    """
    now = b.clock.now()
    rail = BALANCE if chain is None else CRYPTO
    if quote_id is not None:
        dest = await crypto.destination(b, chain) if chain is not None else None
        async with conn.transaction():
            quote = await upgrades_repo.get_quote(conn, quote_id)
            if quote is None:
                raise NotFound(f"no quote {quote_id}")
            state = await _state(conn, agent_id, usage, now)
            target = await _plan(conn, quote.plan_code)
            quotes.check_quote(quote, agent_id, code, now, state.current, state.live, target)
            pricing = quotes.price_in(quote, dest.rate) if dest is not None else None
            request = await upgrades.record_upgrade(
                conn, agent_id, key, fingerprint, quote, now, rail=rail, pricing=pricing
            )
            if dest is not None:
                await crypto.record_charge_intent(b, conn, request, dest, now)
            return request
    assert code is not None
    async with conn.transaction():
        state = await _state(conn, agent_id, usage, now)
        target = await _plan(conn, code)
        quotes.upgrade_terms(state.current, state.live, target, now)  # refuse before the rate
    dest = await crypto.destination(b, chain) if chain is not None else None
    rate = dest.rate if dest is not None else await b.rates.current(b.asset)
    async with conn.transaction():
        await customers_repo.ensure_customer(conn, agent_id, usage.tier.value, now)
        state = await _state(conn, agent_id, usage, now)
        quote = await quotes.create_quote(
            b, conn, agent_id, state.current, state.live, target, rate, now
        )
        request = await upgrades.record_upgrade(
            conn, agent_id, key, fingerprint, quote, now, rail=rail
        )
        if dest is not None:
            await crypto.record_charge_intent(b, conn, request, dest, now)
        return request


# --- downgrades ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DowngradeResult:
    body: dict[str, Any]
    replayed: bool = False


def downgrade_hash(code: str, immediate: bool) -> bytes:
    """The fingerprint of a downgrade request, to tell a replay from a reused key."""
    canonical = json.dumps({"tier": code, "immediate": immediate}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).digest()


async def downgrade(
    b: Billing, agent_id: uuid.UUID, label: str, immediate: bool, key: str | None = None
) -> DowngradeResult:
    """Schedule a downgrade at period end, or make it now with refunds.

    An immediate downgrade moves money, so it needs the client's Idempotency-Key:
    a retry after a lost answer gets the first answer again (the refunds were
    posted once), not `not_a_downgrade`. A scheduled one moves nothing and can
    simply be asked for again.
    """
    code = tier_code(label)
    if immediate and key is None:
        raise IdempotencyKeyRequired(
            "an immediate downgrade refunds money: send an Idempotency-Key header of 8-255 "
            "printable ASCII characters without spaces"
        )
    fingerprint = downgrade_hash(code, immediate)
    usage = await b.dispatcher.usage(agent_id)
    async with b.db.agent_session(agent_id) as conn:
        assert conn is not None
        await settle_pending(b, conn, agent_id)  # a crashed one under this key completes here
        if key is not None:
            replay = await _downgrade_replay(b, conn, agent_id, key, fingerprint)
            if replay is not None:
                return replay
        now = b.clock.now()
        async with conn.transaction():
            state = await _state(conn, agent_id, usage, now)
            target = await _plan(conn, code)
            if target.rank >= state.current.rank:
                raise NotADowngrade(
                    f"{target.code} is not below the current tier {state.current.code}",
                    tier=target.code,
                    current_tier=state.current.code,
                )
            live = state.live
            pending = None
            if live is None or live.status == subs_repo.PAST_DUE:
                body = await _downgrade_now_without_refund(b, conn, agent_id, usage, live, target)
            elif not immediate:
                await downgrades.schedule_at_period_end(b, conn, live, target, now)
                end = rfc3339(live.current_period_end)
                return DowngradeResult(_downgrade_body(target.code, "period_end", end))
            else:
                pending = await downgrades.start_immediate(
                    conn, live, target, now, key=key, fingerprint=fingerprint
                )
        if pending is not None:
            body = await downgrades.complete_immediate(b, conn, pending)
            DOWNGRADES.labels("immediate").inc()
        # A subscription ended above: refund any charge its voided invoices turned up.
        await subscriptions.settle_void_refunds(b, conn, agent_id, now)
    return DowngradeResult(body)


async def _downgrade_replay(
    b: Billing, conn: Conn, agent_id: uuid.UUID, key: str, fingerprint: bytes
) -> DowngradeResult | None:
    async with conn.transaction():
        earlier = await downgrades_repo.get_by_key(conn, agent_id, key)
    if earlier is None:
        return None
    if earlier.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different downgrade request",
            downgrade_id=str(earlier.id),
        )
    body = earlier.response
    if body is None:  # still pending (settle_pending normally finishes it first)
        body = await downgrades.complete_immediate(b, conn, earlier)
    DOWNGRADES.labels("replayed").inc()
    return DowngradeResult(body, replayed=True)


async def _downgrade_now_without_refund(
    b: Billing,
    conn: Conn,
    agent_id: uuid.UUID,
    usage: Usage,
    live: subs_repo.Subscription | None,
    target: Plan,
) -> dict[str, Any]:
    """No paid period to refund: a comped tier, or a past-due subscription moving to free."""
    now = b.clock.now()
    if live is not None:
        if target.code != FREE:
            raise SubscriptionPastDue(
                "the subscription is past due: pay it (upgrade to the same tier) or "
                "downgrade to free",
                grace_until=rfc3339(live.grace_until) if live.grace_until else None,
            )
        await subscriptions.close_subscription(
            b, conn, live, subs_repo.CANCELLED, reason="downgraded_while_past_due", at=now
        )
    await customers.change_tier(
        b,
        conn,
        agent_id,
        target.code,
        core_tier=usage.tier.value,
        actor="billing",
        reason="downgrade_immediate",
        at=now,
        subscription_id=live.id if live else None,
    )
    await customers.push_tier(b, agent_id, target.code)
    return _downgrade_body(target.code, "immediate", rfc3339(now))


def _downgrade_body(
    tier: str, effective: str, effective_at: str, refund: dict[str, Any] | None = None
) -> dict[str, Any]:
    DOWNGRADES.labels(effective).inc()
    return {"tier": tier, "effective": effective, "effective_at": effective_at, "refund": refund}


# --- operators -----------------------------------------------------------------------------


async def set_plan(b: Billing, agent_id: uuid.UUID, label: str, actor: str) -> dict[str, Any]:
    """An operator's comp or correction: no charge, no refund; a live subscription ends."""
    code = tier_code(label)
    usage = await b.dispatcher.usage(agent_id)
    async with b.db.agent_session(agent_id) as conn:
        assert conn is not None
        await settle_pending(b, conn, agent_id)
        now = b.clock.now()
        async with conn.transaction():
            # Committed before the push below: should the plan's own commit fail,
            # the tier check-up then finds billing's record of the agent, which
            # a concurrent quote cannot take from the pushed tier.
            await customers_repo.ensure_customer(conn, agent_id, usage.tier.value, now)
        async with conn.transaction():
            await _plan(conn, code)
            live = await subs_repo.get_live(conn, agent_id)
            if live is not None:
                await subscriptions.close_subscription(
                    b, conn, live, subs_repo.CANCELLED, reason="operator_plan", at=now, actor=actor
                )
            await customers.change_tier(
                b,
                conn,
                agent_id,
                code,
                core_tier=usage.tier.value,
                actor=actor,
                reason="operator_plan",
                at=now,
            )
            await audit_repo.append(
                conn,
                agent_id=agent_id,
                subscription_id=live.id if live else None,
                action="plan.set",
                actor=actor,
                details={"tier": code, "cancelled_subscription": str(live.id) if live else None},
                at=now,
            )
            await customers.push_tier(b, agent_id, code)
        await subscriptions.settle_void_refunds(b, conn, agent_id, now)
    return {"agent_id": str(agent_id), "tier": code}


# --- crash recovery ------------------------------------------------------------------------


async def settle_pending(
    b: Billing, conn: Conn, agent_id: uuid.UUID, report: Reporter | None = None
) -> None:
    """Finish the agent's orphaned intents (same charge and refund keys: no double money),
    and the refunds its committed voids still owe."""
    async with conn.transaction():
        requests = await upgrades_repo.pending_requests(conn, agent_id)
        pending_downgrades = await downgrades_repo.pending_downgrades(conn, agent_id)
    for request in requests:
        if request.pay_with == CRYPTO:
            outcome = await _settle_crypto(b, conn, request)
        else:
            outcome = await _settle_balance(b, conn, request)
        if report is not None:
            report(outcome, agent_id, invoice_id=str(request.invoice_id))
    for pending in pending_downgrades:
        await downgrades.complete_immediate(b, conn, pending)
        if report is not None:
            report("settled_downgrade", agent_id, downgrade_id=str(pending.id))
    for invoice_id in await subscriptions.settle_void_refunds(b, conn, agent_id, b.clock.now()):
        if report is not None:
            report("refunded_void", agent_id, invoice_id=str(invoice_id))


async def _settle_balance(b: Billing, conn: Conn, request: upgrades_repo.UpgradeRequest) -> str:
    try:
        await upgrades.complete_upgrade(b, conn, request)
    except PaymentError as exc:
        log.warning(
            "billing.upgrade.released",
            extra={
                "agent_id": str(request.agent_id),
                "code": exc.code,
                "key": request.idempotency_key,
            },
        )
        return "released_upgrade"
    return "settled_upgrade"


async def _settle_crypto(b: Billing, conn: Conn, request: upgrades_repo.UpgradeRequest) -> str:
    """Ask the key server again for the invoice's charge (the same one: its key is the
    invoice's). Still unreachable: the intent waits for the next attempt, and the
    agent's other workflows go on (a payment that no longer fits is never applied)."""
    try:
        await crypto.open_charge(b, conn, request)
    except KeyServerRefused as exc:
        log.warning(
            "billing.crypto.intent_released",
            extra={"invoice_id": str(request.invoice_id), "code": exc.code},
        )
        return "released_crypto_upgrade"
    except KeyServerUnavailable:
        log.warning("billing.crypto.intent_pending", extra={"invoice_id": str(request.invoice_id)})
        return "crypto_charge_pending"
    except IntentAbandoned:
        return "abandoned_crypto_upgrade"  # voided meanwhile, or too old to open at its price
    return "settled_crypto_upgrade"
