"""Invoices as the wire and the webhooks show them, and their payment by the core."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.billing.audit import repository as audit_repo
from services.billing.dbtypes import Conn
from services.billing.invoices import repository as repo
from services.billing.invoices.repository import Invoice
from services.billing.runtime import Billing
from services.billing.webhooks import service as webhooks
from services.common.clock import rfc3339
from services.payment_tee.core.commands import CancelChargeCommand, ChargeCommand, RefundCommand
from services.payment_tee.core.errors import UnknownAccount
from services.payment_tee.core.ledger import ChargeCancellation
from services.payment_tee.core.records import MAIN_ACCOUNT, AccountRef

CHARGE_PURPOSE = "subscription"
ACTOR = "billing"
VOID_REFUND_SCOPE = "billing:void"  # refunds of charges found posted on a voided invoice


def rate_wire(invoice: Invoice) -> dict[str, Any]:
    return {
        "value": str(invoice.rate_value),
        "source": invoice.rate_source,
        "fetched_at": rfc3339(invoice.rate_fetched_at),
        "stale": invoice.rate_stale,
    }


def wire(invoice: Invoice) -> dict[str, Any]:
    """The invoice in the upgrade answer."""
    return {
        "invoice_id": str(invoice.id),
        "usd_cents": invoice.usd_cents,
        "asset": invoice.asset,
        "amount": invoice.amount_minor,
        "status": invoice.status,
        "rate": rate_wire(invoice),
    }


def event_data(invoice: Invoice) -> dict[str, Any]:
    """The invoice in webhooks and the audit trail, with its rate audit."""
    return {
        **wire(invoice),
        "agent_id": str(invoice.agent_id),
        "subscription_id": str(invoice.subscription_id) if invoice.subscription_id else None,
        "cycle": invoice.cycle,
        "kind": invoice.kind,
        "tier": invoice.plan_code,
        "period_start": rfc3339(invoice.period_start),
        "period_end": rfc3339(invoice.period_end),
        "charge_id": str(invoice.charge_id) if invoice.charge_id else None,
        "paid_with": invoice.rail,
    }


def charge_command(invoice: Invoice) -> ChargeCommand:
    """The payment-core charge for an invoice: same key, same amount on every attempt."""
    return ChargeCommand(
        account=AccountRef(invoice.agent_id, MAIN_ACCOUNT, invoice.asset),
        amount=invoice.amount_minor,
        idempotency_key=invoice.charge_key,
        purpose=CHARGE_PURPOSE,
        scope=invoice.charge_scope,
        actor=ACTOR,
        memo=f"invoice {invoice.id}",
    )


def charges_the_balance(invoice: Invoice) -> bool:
    """Whether the invoice is (or was meant to be) paid by a payment-core charge."""
    return invoice.rail == repo.BALANCE and invoice.amount_minor > 0


async def settle_charge(b: Billing, invoice: Invoice) -> ChargeCancellation:
    """The truth about the invoice's charge, made final: its receipt if it posted
    (an answer lost, or a crash before the payment was recorded), otherwise the
    core cancels its key, so no retry or late request can charge it afterwards."""
    try:
        return await b.dispatcher.cancel_charge(
            CancelChargeCommand(
                account=AccountRef(invoice.agent_id, MAIN_ACCOUNT, invoice.asset),
                idempotency_key=invoice.charge_key,
                scope=invoice.charge_scope,
                actor=ACTOR,
            )
        )
    except UnknownAccount:
        # No account in the invoice's asset: no charge can have posted from it.
        return ChargeCancellation(cancelled=True)


async def void_invoice(b: Billing, invoice: Invoice, at: datetime) -> Invoice:
    """An open invoice as voided, its charge settled in the core first (phase 1 of a
    void, saved in the caller's transaction).

    The charge is cancelled, so no retry or late request can take it afterwards;
    or it had posted after all (an answer lost, a crash before it was recorded),
    and the void keeps that charge (`charge_id`, `receipt`) with a refund due,
    which `refund_voided_charge` posts once this is committed. Refunding here,
    before the commit, could leave a refunded charge on an invoice that a
    rolled-back transaction keeps open, and a later retry would find the
    charge and record it as paid."""
    void = replace(invoice, status=repo.VOID, voided_at=at)
    if not charges_the_balance(invoice):
        return void
    found = await settle_charge(b, invoice)
    if found.cancelled or found.receipt is None:
        return void
    charge = found.receipt
    return replace(void, charge_id=uuid.UUID(charge.payment_id), receipt=charge.to_wire())


async def refund_voided_charge(b: Billing, conn: Conn, invoice: Invoice, at: datetime) -> None:
    """Phase 2 of a void whose charge had posted: refund it in full, then record it.
    The refund's key is the invoice's (`void:<invoice id>`), so a retry after a
    crash or a lost answer gets the same refund, never a second one."""
    assert invoice.charge_id is not None and invoice.status == repo.VOID
    result = await b.dispatcher.refund(
        RefundCommand(
            charge_id=invoice.charge_id,
            amount=invoice.amount_minor - invoice.refunded_minor,
            idempotency_key=f"void:{invoice.id}",
            scope=VOID_REFUND_SCOPE,
            actor=ACTOR,
            memo=f"invoice {invoice.id} voided",
        )
    )
    async with conn.transaction():
        refunded = replace(invoice, refunded_minor=invoice.amount_minor)
        await repo.update(conn, refunded)
        await record(
            b,
            conn,
            "invoice.refunded",
            refunded,
            at,
            reason="charged_before_void",
            refund=result.receipt.to_wire(),
        )


def charge_id_of(receipt: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(str(receipt["payment_id"]))


async def record_paid(
    b: Billing,
    conn: Conn,
    invoice: Invoice,
    at: datetime,
    *,
    payment: dict[str, Any] | None = None,
) -> None:
    """Audit row + `invoice.paid`, in the transaction that marked it paid.

    `payment` describes an on-chain payment (chain, charge, amount received,
    txids); balance payments are described by the invoice's receipt.
    """
    await record(b, conn, "invoice.paid", invoice, at, payment=payment)


async def record(
    b: Billing, conn: Conn, event: str, invoice: Invoice, at: datetime, **extra: Any
) -> None:
    """Audit row + webhook for an invoice event, in the caller's transaction."""
    data = {**event_data(invoice), **{k: v for k, v in extra.items() if v is not None}}
    await audit_repo.append(
        conn,
        agent_id=invoice.agent_id,
        subscription_id=invoice.subscription_id,
        action=event,
        actor=ACTOR,
        details=data,
        at=at,
    )
    await webhooks.publish(conn, b.queue, event, agent_id=invoice.agent_id, data=data, at=at)
