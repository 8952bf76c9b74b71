"""Renewals: charge due subscriptions, retry with backoff through a grace period, lapse.

Per subscription, at its period end:

1. A scheduled downgrade takes effect (to `free`: the subscription is
   cancelled and the tier drops; to a paid plan: the tier changes and the
   renewal is at that plan's price).
2. The invoice for the next cycle is issued once (unique per subscription and
   cycle), at the plan's current price, converted at the current rate; its
   amount never changes afterwards.
3. The payment core charges it from the agent's balance with the idempotency
   key `renewal:<subscription>:<cycle>` (purpose "subscription"): a retry, a
   crash or a second worker replays, never charges twice.
4. Insufficient funds: `past_due`, grace until period end + 7 days (the tier is
   kept), next attempt after 5 min, 30 min, 2 h, 6 h, then every 12 h
   (BILLING_RETRY_SCHEDULE), none after 5 consecutive failures
   (BILLING_MAX_FAILURES). A later successful charge restores `active`.
5. Grace over and still unpaid: `lapsed`, the invoice is voided, the tier drops
   to `free` (SetTier). Lapsing takes precedence over a retry due at the same time.
   Before it lapses, the invoice's charge is settled in the core (CancelCharge):
   one that posted without being recorded (a lost answer, a crashed worker)
   renews the subscription instead, and one that did not can never post later.

Workers take each agent's lock without waiting (another worker has it: skip),
so any number of them can sweep at once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from services.billing.agents import service as agents
from services.billing.audit import repository as audit_repo
from services.billing.customers import service as customers
from services.billing.dbtypes import Conn
from services.billing.errors import RateUnavailableError
from services.billing.invoices import repository as invoices_repo
from services.billing.invoices import service as invoices
from services.billing.invoices.repository import Invoice, InvoiceLine
from services.billing.money import usd_cents_to_minor
from services.billing.periods import period_bounds, whole_seconds
from services.billing.plans import repository as plans_repo
from services.billing.rates.service import asset_spec
from services.billing.runtime import Billing
from services.billing.subscriptions import repository as subs_repo
from services.billing.subscriptions import service as subscriptions
from services.billing.subscriptions.repository import Subscription
from services.billing.upgrades import repository as upgrades_repo
from services.common.clock import rfc3339
from services.payment_client.errors import PaymentCoreUnavailable
from services.payment_tee.core.errors import InsufficientFunds, PaymentError

log = logging.getLogger("sealpay.billing.renewals")

RENEWAL_SCOPE = "billing:renewal"
FREE = "free"
MAX_STEPS_PER_AGENT = 240  # catching up at most 20 years of missed periods per sweep
SWEEP_BATCH = 1000

RENEWAL_ACTIONS = Counter(
    "sealpay_billing_renewal_actions_total",
    "What renewal sweeps did, by action (renewed, renewal_failed, lapsed, ...).",
    ["action"],
)
SWEEP_SECONDS = Histogram(
    "sealpay_billing_sweep_seconds",
    "Wall time of one renewal sweep.",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)

RENEW, RETRY, LAPSE = "renew", "retry", "lapse"


@dataclass
class SweepReport:
    at: datetime
    actions: list[dict[str, Any]] = field(default_factory=list)

    def add(self, action: str, agent_id: uuid.UUID, **details: Any) -> None:
        RENEWAL_ACTIONS.labels(action).inc()
        self.actions.append({"action": action, "agent_id": str(agent_id), **details})

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.actions:
            counts[item["action"]] = counts.get(item["action"], 0) + 1
        return counts

    def wire(self) -> dict[str, Any]:
        return {"at": rfc3339(self.at), "counts": self.counts(), "actions": self.actions}


def next_step(sub: Subscription, at: datetime) -> str | None:
    if sub.status == subs_repo.ACTIVE and sub.current_period_end <= at:
        return RENEW
    if sub.status != subs_repo.PAST_DUE:
        return None
    if sub.grace_until is not None and sub.grace_until <= at:
        return LAPSE
    if sub.next_attempt_at is not None and sub.next_attempt_at <= at:
        return RETRY
    return None


def next_attempt(
    failures: int, at: datetime, delays: tuple[timedelta, ...], max_failures: int
) -> datetime | None:
    """When to try again after the `failures`-th consecutive failure (None: stop)."""
    if failures >= max_failures:
        return None
    return at + delays[min(failures, len(delays)) - 1]


async def run_sweep(b: Billing, at: datetime) -> SweepReport:
    """One pass over every agent with something due at `at`."""
    report = SweepReport(at)
    with SWEEP_SECONDS.time():
        async with b.db.transaction() as conn:
            due = await subs_repo.due_agent_ids(conn, at, SWEEP_BATCH)
            orphaned = await upgrades_repo.agents_with_pending_intents(conn, SWEEP_BATCH)
            orphaned += await invoices_repo.agents_with_void_refunds_due(conn, SWEEP_BATCH)
        for agent_id in dict.fromkeys([*orphaned, *due]):
            await _sweep_agent(b, agent_id, at, report)
    return report


async def _sweep_agent(b: Billing, agent_id: uuid.UUID, at: datetime, report: SweepReport) -> None:
    async with b.db.agent_session(agent_id, wait=False) as conn:
        if conn is None:
            report.add("skipped_busy", agent_id)
            return
        try:
            await agents.settle_pending(b, conn, agent_id, report.add)
            await renew_agent(b, conn, agent_id, at, report)
            for invoice_id in await subscriptions.settle_void_refunds(b, conn, agent_id, at):
                report.add("refunded_void", agent_id, invoice_id=str(invoice_id))
        except PaymentCoreUnavailable as exc:
            report.add("core_unavailable", agent_id, detail=str(exc)[:200])
        except Exception as exc:
            log.exception("billing.renewal.error", extra={"agent_id": str(agent_id)})
            report.add("error", agent_id, detail=f"{type(exc).__name__}: {exc}"[:300])


async def renew_agent(
    b: Billing, conn: Conn, agent_id: uuid.UUID, at: datetime, report: SweepReport
) -> None:
    """Everything due for the agent's live subscription at `at` (under the agent's lock)."""
    for _ in range(MAX_STEPS_PER_AGENT):
        async with conn.transaction():
            sub = await subs_repo.get_live(conn, agent_id)
        step = next_step(sub, at) if sub is not None else None
        if sub is None or step is None:
            return
        if step == LAPSE:
            if await _paid_after_all(b, conn, sub, at, report):
                continue
            await _lapse(b, conn, sub, at, report)
            return
        target = sub.scheduled_plan_code or sub.plan_code
        if step == RENEW and target == FREE:
            await _cancel_at_period_end(b, conn, sub, at, report)
            return
        invoice = await _renewal_invoice(b, conn, sub, at, report)
        if invoice is None or not await _charge(b, conn, invoice, at, report):
            return


async def _renewal_invoice(
    b: Billing, conn: Conn, sub: Subscription, at: datetime, report: SweepReport
) -> Invoice | None:
    """The next cycle's invoice: the one already issued, or a new one (None: no rate)."""
    cycle = sub.cycle + 1
    async with conn.transaction():
        issued = await invoices_repo.get_cycle_invoice(conn, sub.id, cycle)
    if issued is not None:
        return issued
    try:
        rate = await b.rates.current(b.asset)
    except RateUnavailableError as exc:
        report.add("rate_unavailable", sub.agent_id, subscription_id=str(sub.id), detail=exc.detail)
        return None
    start, end = period_bounds(sub.anchor_at, cycle)
    async with conn.transaction():
        sub = await _apply_scheduled_plan(b, conn, sub, at, report)
        plan = await plans_repo.get_plan(conn, sub.plan_code)
        assert plan is not None
        usd = plan.price_usd_cents
        invoice = Invoice(
            id=uuid.uuid4(),
            agent_id=sub.agent_id,
            subscription_id=sub.id,
            cycle=cycle,
            kind=invoices_repo.CYCLE,
            status=invoices_repo.OPEN,
            plan_code=plan.code,
            usd_cents=usd,
            asset=rate.asset,
            amount_minor=usd_cents_to_minor(
                usd, rate.usd_per_unit, asset_spec(rate.asset).decimals
            ),
            rate_value=rate.usd_per_unit,
            rate_source=rate.source,
            rate_fetched_at=rate.fetched_at,
            rate_stale=rate.stale,
            period_start=start,
            period_end=end,
            covered_seconds=whole_seconds(start, end),
            level_from_usd_cents=0,
            level_to_usd_cents=usd,
            level_top_usd_cents=usd,
            refunded_minor=0,
            charge_scope=RENEWAL_SCOPE,
            charge_key=f"renewal:{sub.id}:{cycle}",
            charge_id=None,
            receipt=None,
            attempts=0,
            last_attempt_at=None,
            last_error=None,
            created_at=at,
            paid_at=None,
            voided_at=None,
        )
        line = InvoiceLine(
            invoice.id,
            1,
            f"{plan.code}, {rfc3339(start)} to {rfc3339(end)}",
            plan.code,
            usd,
            start,
            end,
        )
        if not await invoices_repo.insert_cycle_invoice(conn, invoice, [line]):
            found = await invoices_repo.get_cycle_invoice(conn, sub.id, cycle)
            assert found is not None
            return found
        await audit_repo.append(
            conn,
            agent_id=sub.agent_id,
            subscription_id=sub.id,
            action="invoice.issued",
            actor="billing",
            details=invoices.event_data(invoice),
            at=at,
        )
    return invoice


async def _apply_scheduled_plan(
    b: Billing, conn: Conn, sub: Subscription, at: datetime, report: SweepReport
) -> Subscription:
    """At period end, a scheduled move to another paid plan takes effect (tier included)."""
    if sub.scheduled_plan_code is None or sub.scheduled_plan_code == sub.plan_code:
        return sub
    moved = replace(sub, plan_code=sub.scheduled_plan_code, scheduled_plan_code=None, updated_at=at)
    await subs_repo.update(conn, moved)
    await customers.change_tier(
        b,
        conn,
        sub.agent_id,
        moved.plan_code,
        core_tier=sub.plan_code,
        actor="billing",
        reason="scheduled_downgrade",
        at=at,
        subscription_id=sub.id,
    )
    await customers.push_tier(b, sub.agent_id, moved.plan_code)
    report.add("downgraded", sub.agent_id, subscription_id=str(sub.id), tier=moved.plan_code)
    return moved


async def _charge(
    b: Billing, conn: Conn, invoice: Invoice, at: datetime, report: SweepReport
) -> bool:
    """Charge an open renewal invoice; True when it is paid."""
    receipt: dict[str, Any] | None = None
    if invoice.amount_minor > 0:
        try:
            result = await b.dispatcher.charge(invoices.charge_command(invoice))
        except InsufficientFunds as exc:
            await _record_failure(b, conn, invoice, at, "insufficient_funds", exc.details, report)
            return False
        except PaymentError as exc:
            log.error(
                "billing.renewal.refused",
                extra={"invoice_id": str(invoice.id), "code": exc.code, "error": exc.message},
            )
            await _record_failure(b, conn, invoice, at, exc.code, exc.details, report)
            return False
        receipt = result.receipt.to_wire()
    await _record_success(b, conn, invoice, receipt, at, report)
    return True


async def _record_success(
    b: Billing,
    conn: Conn,
    invoice: Invoice,
    receipt: dict[str, Any] | None,
    at: datetime,
    report: SweepReport,
) -> None:
    assert invoice.subscription_id is not None and invoice.cycle is not None
    async with conn.transaction():
        sub = await subs_repo.get(conn, invoice.subscription_id)
        assert sub is not None
        paid = replace(
            invoice,
            status=invoices_repo.PAID,
            charge_id=invoices.charge_id_of(receipt) if receipt else None,
            receipt=receipt,
            attempts=invoice.attempts + 1,
            last_attempt_at=at,
            last_error=None,
            paid_at=at,
        )
        await invoices_repo.update(conn, paid)
        renewed = replace(
            sub,
            status=subs_repo.ACTIVE,
            plan_code=invoice.plan_code,
            cycle=invoice.cycle,
            current_period_start=invoice.period_start,
            current_period_end=invoice.period_end,
            period_price_usd_cents=invoice.level_to_usd_cents,
            consecutive_failures=0,
            next_attempt_at=None,
            grace_until=None,
            updated_at=at,
        )
        await subs_repo.update(conn, renewed)
        await subscriptions.record(
            b, conn, "subscription.renewed", renewed, at, invoice_id=str(paid.id)
        )
        await invoices.record_paid(b, conn, paid, at)
    report.add(
        "renewed",
        sub.agent_id,
        subscription_id=str(sub.id),
        cycle=invoice.cycle,
        invoice_id=str(invoice.id),
        amount=invoice.amount_minor,
        usd_cents=invoice.usd_cents,
        recovered=sub.status == subs_repo.PAST_DUE,
    )


async def _record_failure(
    b: Billing,
    conn: Conn,
    invoice: Invoice,
    at: datetime,
    code: str,
    details: dict[str, Any],
    report: SweepReport,
) -> None:
    assert invoice.subscription_id is not None
    settings = b.settings
    async with conn.transaction():
        sub = await subs_repo.get(conn, invoice.subscription_id)
        assert sub is not None
        failures = sub.consecutive_failures + 1
        became_past_due = sub.status == subs_repo.ACTIVE
        grace_until = sub.grace_until or sub.current_period_end + timedelta(
            days=settings.billing_grace_days
        )
        failed = replace(
            sub,
            status=subs_repo.PAST_DUE,
            consecutive_failures=failures,
            next_attempt_at=next_attempt(
                failures, at, b.retry_delays, settings.billing_max_failures
            ),
            grace_until=grace_until,
            updated_at=at,
        )
        await subs_repo.update(conn, failed)
        await invoices_repo.update(
            conn,
            replace(invoice, attempts=invoice.attempts + 1, last_attempt_at=at, last_error=code),
        )
        extra: dict[str, Any] = {
            "invoice_id": str(invoice.id),
            "attempt": failures,
            "reason": code,
            "amount": invoice.amount_minor,
            "available": details.get("available"),
        }
        await subscriptions.record(b, conn, "subscription.renewal_failed", failed, at, **extra)
        if became_past_due:
            await subscriptions.record(b, conn, "subscription.past_due", failed, at)
    report.add(
        "renewal_failed",
        sub.agent_id,
        subscription_id=str(sub.id),
        cycle=invoice.cycle,
        invoice_id=str(invoice.id),
        attempt=failures,
        reason=code,
        next_attempt_at=rfc3339(failed.next_attempt_at) if failed.next_attempt_at else None,
        grace_until=rfc3339(grace_until),
    )


async def _paid_after_all(
    b: Billing, conn: Conn, sub: Subscription, at: datetime, report: SweepReport
) -> bool:
    """Before lapsing: a renewal charge whose answer was lost (or recorded by a
    worker that crashed first) may have posted. Settle it in the core: if it
    posted, the renewal is recorded as paid instead; if not, it never will."""
    async with conn.transaction():
        invoice = await invoices_repo.get_cycle_invoice(conn, sub.id, sub.cycle + 1)
    if (
        invoice is None
        or invoice.status != invoices_repo.OPEN
        or not invoices.charges_the_balance(invoice)
    ):
        return False
    found = await invoices.settle_charge(b, invoice)
    if found.cancelled or found.receipt is None:
        return False
    await _record_success(b, conn, invoice, found.receipt.to_wire(), at, report)
    return True


async def _lapse(
    b: Billing, conn: Conn, sub: Subscription, at: datetime, report: SweepReport
) -> None:
    async with conn.transaction():
        await subscriptions.close_subscription(
            b, conn, sub, subs_repo.LAPSED, reason="grace_ended_unpaid", at=at
        )
        await customers.change_tier(
            b,
            conn,
            sub.agent_id,
            FREE,
            core_tier=sub.plan_code,
            actor="billing",
            reason="lapsed",
            at=at,
            subscription_id=sub.id,
        )
        await customers.push_tier(b, sub.agent_id, FREE)
    report.add("lapsed", sub.agent_id, subscription_id=str(sub.id))


async def _cancel_at_period_end(
    b: Billing, conn: Conn, sub: Subscription, at: datetime, report: SweepReport
) -> None:
    async with conn.transaction():
        await subscriptions.close_subscription(
            b, conn, sub, subs_repo.CANCELLED, reason="downgraded_at_period_end", at=at
        )
        await customers.change_tier(
            b,
            conn,
            sub.agent_id,
            FREE,
            core_tier=sub.plan_code,
            actor="billing",
            reason="scheduled_downgrade",
            at=at,
            subscription_id=sub.id,
        )
        await customers.push_tier(b, sub.agent_id, FREE)
    report.add("cancelled", sub.agent_id, subscription_id=str(sub.id))
