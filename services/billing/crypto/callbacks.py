"""The key server's signed charge callbacks: a crypto invoice is paid, voided, or paid late.

Every callback is handled once per key-server `event_id` (charge_events): a
redelivery, before or after a restart, finds its row and changes nothing.
Beyond that, what a callback does depends on the invoice's state, so two
different events for one charge cannot apply it twice either:

* charge.confirmed / charge.overpaid on an open invoice: paid, the upgrade
  applied (`applied`); if it was paid after the charge expired (`paid_late`),
  or the upgrade was overtaken meanwhile (the subscription changed so that the
  quote no longer buys what it was priced for, an immediate downgrade or a
  renewal is still in flight: `upgrades.overtaken_because`), the invoice is
  voided and the payment recorded as `invoice.late_payment` (`late_payment`,
  `unapplied`);
* ... on a void invoice: `invoice.late_payment`; on a paid one: nothing
  (`already_paid`);
* charge.expired / charge.underpaid on an open invoice: voided
  (`invoice.voided`); otherwise nothing (`ignored`).

A payment that can no longer be applied as bought is recorded and surfaced
(`invoice.late_payment`, with what arrived and the txids) but never changes
the tier by itself: the money is on-chain, outside the ledger, and whether to
apply it, credit it or send it back is an operator's decision. A payment
counts as late from what the key server reports (`paid_late`), never from the
order callbacks happen to arrive in, so the outcome does not depend on it.

Everything for one callback (the event row, the invoice, the subscription,
audit rows, webhooks, and SetTier before the commit) is one transaction under
the agent's lock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from services.billing.audit import repository as audit_repo
from services.billing.crypto import repository as repo
from services.billing.crypto.repository import CryptoCharge
from services.billing.crypto.schemas import ChargeEventIn
from services.billing.customers import service as customers
from services.billing.dbtypes import Conn
from services.billing.errors import EventConflict, InvalidRequest, NotFound
from services.billing.invoices import repository as invoices_repo
from services.billing.invoices import service as invoices
from services.billing.invoices.repository import Invoice
from services.billing.runtime import Billing
from services.billing.upgrades import repository as upgrades_repo
from services.billing.upgrades import service as upgrades
from services.payment_tee.core.records import Usage

log = logging.getLogger("sealpay.billing.crypto")

CHARGE_EVENTS = Counter(
    "sealpay_billing_charge_events_total",
    "Key-server charge callbacks handled, by outcome (applied, voided, late_payment, ...).",
    ["outcome"],
)

PAID_STATUSES = frozenset({"confirmed", "overpaid"})
FAILED_STATUSES = frozenset({"expired", "underpaid"})

APPLIED = "applied"
UNAPPLIED = "unapplied"
VOIDED = "voided"
LATE_PAYMENT = "late_payment"
ALREADY_PAID = "already_paid"
IGNORED = "ignored"
DUPLICATE = "duplicate"


async def handle_charge_event(
    b: Billing, event: ChargeEventIn, body: dict[str, Any]
) -> dict[str, Any]:
    """Apply one verified callback; the answer names what it did (`outcome`).

    A callback may overtake the key server's answer to POST /charges (or that
    answer may have been lost): the charge is then found by its reference, the
    invoice id, among intents with no charge id yet. Anything else is 404.
    """
    if event.type != f"charge.{event.status}":
        raise InvalidRequest(f"type {event.type!r} does not match status {event.status!r}")
    async with b.db.transaction() as conn:
        charge = await repo.by_charge_id(conn, event.charge_id) or await _unopened(conn, event)
    if charge is None:
        raise NotFound(
            f"no invoice is paid by charge {event.charge_id}", charge_id=str(event.charge_id)
        )
    _check_matches(charge, event)
    usage = await b.dispatcher.usage(charge.agent_id)
    async with b.db.agent_session(charge.agent_id) as conn:
        assert conn is not None
        async with conn.transaction():
            now = b.clock.now()
            duplicate = not await repo.record_event(
                conn,
                event_id=event.event_id,
                charge_id=event.charge_id,
                invoice_id=charge.invoice_id,
                event_type=event.type,
                body=body,
                at=now,
            )
            if duplicate:
                earlier = await repo.event_outcome(conn, event.event_id)
                CHARGE_EVENTS.labels(DUPLICATE).inc()
                return _answer(event, charge, DUPLICATE, first_outcome=earlier)
            outcome, tier = await _apply(b, conn, charge.invoice_id, event, usage, now)
            await repo.set_event_outcome(conn, event.event_id, outcome)
            if tier is not None:
                await customers.push_tier(b, charge.agent_id, tier)
    CHARGE_EVENTS.labels(outcome).inc()
    log.info(
        "billing.crypto.charge_event",
        extra={
            "event_id": str(event.event_id),
            "charge_id": str(event.charge_id),
            "invoice_id": str(charge.invoice_id),
            "type": event.type,
            "outcome": outcome,
        },
    )
    return _answer(event, charge, outcome)


def _answer(
    event: ChargeEventIn, charge: CryptoCharge, outcome: str, first_outcome: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "charge_id": str(event.charge_id),
        "invoice_id": str(charge.invoice_id),
        "outcome": outcome,
        "first_outcome": first_outcome,
    }


async def _unopened(conn: Conn, event: ChargeEventIn) -> CryptoCharge | None:
    """The intent this event's reference names, if billing has no charge id for it yet."""
    try:
        invoice_id = uuid.UUID(event.reference)
    except ValueError:
        return None
    charge = await repo.get(conn, invoice_id)
    return charge if charge is not None and charge.charge_id is None else None


def _check_matches(charge: CryptoCharge, event: ChargeEventIn) -> None:
    """A signed callback that contradicts the charge billing asked for changes nothing."""
    expected = (str(charge.invoice_id), charge.chain, charge.amount_minor)
    reported = (event.reference, event.chain, event.amount_expected)
    short = event.status in PAID_STATUSES and event.amount_received < charge.amount_minor
    if expected != reported or short:
        log.error(
            "billing.crypto.event_conflict",
            extra={"charge_id": str(event.charge_id), "expected": expected, "reported": reported},
        )
        raise EventConflict(
            "this callback does not match the charge billing created (reference, chain or "
            "amount differ, or it reports paid with less than the amount); nothing was changed",
            charge_id=str(event.charge_id),
        )


async def _apply(
    b: Billing,
    conn: Conn,
    invoice_id: uuid.UUID,
    event: ChargeEventIn,
    usage: Usage,
    now: datetime,
) -> tuple[str, str | None]:
    """(outcome, the tier to push to the core or None), in the caller's transaction."""
    charge = await repo.get(conn, invoice_id)
    invoice = await invoices_repo.get(conn, invoice_id)
    assert charge is not None and invoice is not None
    charge = await _observe(conn, charge, event, now)
    payment = payment_data(charge, event)
    if event.status in PAID_STATUSES:
        if event.status == "overpaid":
            await _record_overpayment(conn, invoice, charge, now, payment)
        if invoice.status == invoices_repo.PAID:
            return ALREADY_PAID, None
        if invoice.status == invoices_repo.VOID:
            await _record_late_payment(b, conn, invoice, now, "invoice_void", payment)
            return LATE_PAYMENT, None
        if event.paid_late:
            voided = await _void(b, conn, invoice, now, "charge_expired", payment)
            await _record_late_payment(b, conn, voided, now, "paid_after_expiry", payment)
            return LATE_PAYMENT, None
        return await _pay(b, conn, invoice, charge, usage, now, payment)
    if event.status in FAILED_STATUSES and invoice.status == invoices_repo.OPEN:
        await _void(b, conn, invoice, now, f"charge_{event.status}", payment)
        return VOIDED, None
    return IGNORED, None


async def _pay(
    b: Billing,
    conn: Conn,
    invoice: Invoice,
    charge: CryptoCharge,
    usage: Usage,
    now: datetime,
    payment: dict[str, Any],
) -> tuple[str, str | None]:
    """Apply the upgrade exactly as the balance rail would, if the quote still holds."""
    quote = await upgrades_repo.get_quote(conn, charge.quote_id)
    assert quote is not None
    reason = await upgrades.overtaken_because(conn, quote, usage.tier.value, now)
    if reason is not None:
        voided = await _void(b, conn, invoice, now, reason, payment)
        await _record_late_payment(b, conn, voided, now, reason, payment)
        return UNAPPLIED, None
    paid, _ = await upgrades.apply_paid_invoice(b, conn, invoice, quote, now, payment=payment)
    return APPLIED, paid.plan_code


async def _observe(
    conn: Conn, charge: CryptoCharge, event: ChargeEventIn, now: datetime
) -> CryptoCharge:
    """Record what the key server reports: amounts only grow, txids accumulate."""
    if charge.charge_id not in (None, event.charge_id):
        raise EventConflict(
            "this invoice is paid by another charge; nothing was changed",
            charge_id=str(event.charge_id),
        )
    seen = replace(
        charge,
        charge_id=event.charge_id,  # known already, or learnt from this callback
        charge_status=event.status,
        amount_received=max(charge.amount_received, event.amount_received),
        txids=list(dict.fromkeys([*charge.txids, *event.txids])),
        paid_late=charge.paid_late or event.paid_late,
        updated_at=now,
    )
    await repo.update(conn, seen)
    return seen


def payment_data(charge: CryptoCharge, event: ChargeEventIn) -> dict[str, Any]:
    """The on-chain payment as audits and webhooks describe it."""
    return {
        "rail": invoices_repo.CRYPTO,
        "chain": charge.chain,
        "charge_id": str(charge.charge_id),
        "address": charge.address,
        "status": event.status,
        "amount_expected": charge.amount_minor,
        "amount_received": event.amount_received,
        "txids": list(event.txids),
        "paid_late": event.paid_late,
        "event_id": str(event.event_id),
    }


async def _void(
    b: Billing, conn: Conn, invoice: Invoice, now: datetime, reason: str, payment: dict[str, Any]
) -> Invoice:
    voided = replace(invoice, status=invoices_repo.VOID, voided_at=now)
    await invoices_repo.update(conn, voided)
    await invoices.record(b, conn, "invoice.voided", voided, now, reason=reason, payment=payment)
    return voided


async def _record_overpayment(
    conn: Conn, invoice: Invoice, charge: CryptoCharge, now: datetime, payment: dict[str, Any]
) -> None:
    """More arrived than the invoice asked: the excess is on-chain, outside the ledger,
    and an operator's to return or credit; the audit trail says how much, and where."""
    await audit_repo.append(
        conn,
        agent_id=invoice.agent_id,
        subscription_id=invoice.subscription_id,
        action="invoice.overpaid",
        actor=invoices.ACTOR,
        details={
            **invoices.event_data(invoice),
            "excess": charge.amount_received - charge.amount_minor,
            "payment": payment,
        },
        at=now,
    )


async def _record_late_payment(
    b: Billing, conn: Conn, invoice: Invoice, now: datetime, reason: str, payment: dict[str, Any]
) -> None:
    log.warning(
        "billing.crypto.late_payment",
        extra={
            "invoice_id": str(invoice.id),
            "reason": reason,
            "amount_received": payment["amount_received"],
            "txids": payment["txids"],
        },
    )
    await invoices.record(
        b, conn, "invoice.late_payment", invoice, now, reason=reason, payment=payment
    )
