"""Invoices as the wire and the webhooks show them, and their payment by the core."""

from __future__ import annotations

import uuid
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
    return await b.dispatcher.cancel_charge(
        CancelChargeCommand(
            account=AccountRef(invoice.agent_id, MAIN_ACCOUNT, invoice.asset),
            idempotency_key=invoice.charge_key,
            scope=invoice.charge_scope,
            actor=ACTOR,
        )
    )


async def withdraw_charge(b: Billing, invoice: Invoice) -> dict[str, Any] | None:
    """Before an open invoice is voided: make sure it keeps no money. Its charge is
    cancelled in the core or, when it had posted after all, refunded in full (the
    refund's key is the invoice's, so a retry never refunds twice). Returns the
    refund's receipt, if there was one."""
    if not charges_the_balance(invoice):
        return None
    found = await settle_charge(b, invoice)
    if found.cancelled or found.receipt is None:
        return None
    charge = found.receipt
    result = await b.dispatcher.refund(
        RefundCommand(
            charge_id=uuid.UUID(charge.payment_id),
            amount=charge.amount,
            idempotency_key=f"void:{invoice.id}",
            scope=VOID_REFUND_SCOPE,
            actor=ACTOR,
            memo=f"invoice {invoice.id} voided",
        )
    )
    return result.receipt.to_wire()


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
