"""The crypto rail: an upgrade paid on-chain through a key-server charge.

An upgrade with `pay_with: crypto` is recorded like a balance upgrade (quote
used, open invoice, idempotency record) but priced in the chain's asset and
paid to a fresh address:

1. `destination`: the chain (key server) and the current rate of its asset.
2. `record_charge_intent` (phase 1, with the invoice): what billing will ask
   the key server for, stored before it is asked, so every retry asks for the
   same charge under the same Idempotency-Key (`billing-invoice-<invoice id>`).
3. `open_charge` (phase 2): POST /charges; the answer (address, expiry) is
   stored and the upgrade request completed with the 202 body. A definite
   refusal removes the intent; an unreachable key server leaves it pending,
   and the next workflow for the agent, the renewal sweep, or the client's
   retry with the same Idempotency-Key completes it (same charge).

Nothing is charged from the balance and the tier does not change until the
key server's signed callback reports the charge paid (callbacks.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.billing.audit import repository as audit_repo
from services.billing.crypto import repository as repo
from services.billing.crypto.client import Chain, ChargeRequest, KeyServerCharge
from services.billing.crypto.repository import CryptoCharge
from services.billing.dbtypes import Conn
from services.billing.errors import (
    IntentAbandoned,
    InvalidRequest,
    KeyServerRefused,
    UnsupportedAsset,
)
from services.billing.invoices import repository as invoices_repo
from services.billing.invoices import service as invoices
from services.billing.invoices.repository import Invoice
from services.billing.rates.assets import ASSETS
from services.billing.rates.service import Rate
from services.billing.runtime import Billing
from services.billing.upgrades import repository as upgrades_repo
from services.billing.upgrades import service as upgrades
from services.billing.upgrades.repository import UpgradeRequest
from services.common.clock import rfc3339

log = logging.getLogger("sealpay.billing.crypto")

CRYPTO = invoices_repo.CRYPTO
ACCEPTED_STATUS = 202


@dataclass(frozen=True)
class Destination:
    """Where a crypto invoice is paid: the chain, and the rate pricing its asset now."""

    chain: Chain
    rate: Rate


async def destination(b: Billing, chain_id: str) -> Destination:
    """The chain (404 unknown_chain, 409 chain_disabled) and its asset's current rate
    (422 unsupported_asset when billing cannot price that asset, 503 rate_unavailable)."""
    chain = await b.key_server.chain(chain_id)
    if chain.asset not in ASSETS:
        raise UnsupportedAsset(
            f"chain {chain.id} pays in {chain.asset}, which billing has no exchange rate for",
            chain=chain.id,
            asset=chain.asset,
            supported=sorted(ASSETS),
        )
    return Destination(chain, await b.rates.current(chain.asset))


async def record_charge_intent(
    b: Billing, conn: Conn, request: UpgradeRequest, dest: Destination, now: datetime
) -> CryptoCharge:
    """Phase 1 (in the transaction that records the invoice): the charge to ask for."""
    invoice = await invoices_repo.get(conn, request.invoice_id)
    assert invoice is not None and invoice.rail == CRYPTO
    if invoice.amount_minor <= 0:
        raise InvalidRequest(
            "this upgrade costs nothing now, so there is nothing to pay on-chain; "
            "send it with pay_with balance",
            field="pay_with",
        )
    charge = CryptoCharge(
        invoice_id=invoice.id,
        agent_id=invoice.agent_id,
        quote_id=request.quote_id,
        chain=dest.chain.id,
        amount_minor=invoice.amount_minor,
        expires_in_seconds=b.settings.billing_crypto_charge_ttl_seconds,
        callback_url=b.settings.charge_callback_url(),
        charge_id=None,
        address=None,
        expires_at=None,
        charge_status=None,
        amount_received=0,
        txids=[],
        paid_late=False,
        created_at=now,
        updated_at=now,
    )
    await repo.insert(conn, charge)
    return charge


def charge_request(invoice: Invoice, charge: CryptoCharge) -> ChargeRequest:
    return ChargeRequest(
        chain=charge.chain,
        amount=charge.amount_minor,
        reference=str(invoice.id),
        expires_in=charge.expires_in_seconds,
        callback_url=charge.callback_url,
        idempotency_key=invoice.charge_key,
    )


async def open_charge(b: Billing, conn: Conn, request: UpgradeRequest) -> dict[str, Any]:
    """Phase 2: ask the key server for the charge (idempotent) and answer the invoice.

    Runs under the agent's lock on `conn`, outside any transaction. Raises
    KeyServerUnavailable with the intent kept, KeyServerRefused with it removed,
    IntentAbandoned (410) when the intent can no longer be opened as priced.
    """
    async with conn.transaction():
        invoice = await invoices_repo.get(conn, request.invoice_id)
        pending = await repo.get(conn, request.invoice_id)
        assert invoice is not None and pending is not None
        abandoned = pending.charge_id is None and await _abandon_if_stale(
            b, conn, request, invoice, b.clock.now()
        )
    if abandoned:  # committed: the invoice is void and the request gone
        raise IntentAbandoned(
            "this crypto invoice could not be opened in time (the key server was "
            "unreachable for longer than a quote lives, the invoice was voided, or "
            "the plan changed meanwhile); nothing was charged: ask again for a fresh price",
            invoice_id=str(invoice.id),
        )
    try:
        answer = await b.key_server.create_charge(charge_request(invoice, pending))
    except KeyServerRefused:
        async with conn.transaction():
            await release_intent(conn, request)
        raise
    now = b.clock.now()
    async with conn.transaction():
        opened = await _record_opened(conn, pending, answer, now)
        invoice = await invoices_repo.get(conn, request.invoice_id)  # voided meanwhile?
        assert invoice is not None
        body = upgrade_body(invoice, opened)
        await audit_repo.append(
            conn,
            agent_id=invoice.agent_id,
            subscription_id=invoice.subscription_id,
            action="invoice.issued",
            actor=invoices.ACTOR,
            details={**invoices.event_data(invoice), "pay_to": body["invoice"]["pay_to"]},
            at=now,
        )
        await upgrades_repo.complete_request(
            conn, request.agent_id, request.idempotency_key, body, now
        )
    log.info(
        "billing.crypto.invoice_opened",
        extra={"invoice_id": str(invoice.id), "charge_id": str(answer.charge_id)},
    )
    return body


async def _abandon_if_stale(
    b: Billing, conn: Conn, request: UpgradeRequest, invoice: Invoice, now: datetime
) -> bool:
    """Never hand out an address for an invoice that can no longer be paid as priced.

    An intent the key server has not answered yet is dropped when its invoice
    was voided meanwhile (its subscription closed), when it has waited
    longer than a quote lives (opened now, it would give the payer a fresh
    half hour at an old rate), or when the agent's plan moved another way
    meanwhile (`upgrades.overtaken_because`: its payment could never be
    applied). The invoice and the intent's row stay (a charge
    created by an answer that was lost still finds them by reference, and its
    payment is recorded as late); the request goes, so the client may ask
    again with the same Idempotency-Key. In the caller's transaction; whether
    it was dropped.
    """
    age = (now - invoice.created_at).total_seconds()
    if invoice.status != invoices_repo.OPEN:
        reason: str | None = "invoice_void"
    elif age > b.settings.billing_quote_ttl_seconds:
        reason = "intent_expired"
    else:
        quote = await upgrades_repo.get_quote(conn, request.quote_id)
        assert quote is not None
        reason = await upgrades.overtaken_because(conn, quote, quote.from_plan_code, now)
    if reason is None:
        return False
    if invoice.status == invoices_repo.OPEN:
        voided = replace(invoice, status=invoices_repo.VOID, voided_at=now)
        await invoices_repo.update(conn, voided)
        await invoices.record(b, conn, "invoice.voided", voided, now, reason=reason)
    await upgrades_repo.delete_request(conn, request.agent_id, request.idempotency_key)
    log.warning(
        "billing.crypto.intent_abandoned",
        extra={"invoice_id": str(invoice.id), "reason": reason, "age_seconds": int(age)},
    )
    return True


async def _record_opened(
    conn: Conn, pending: CryptoCharge, answer: KeyServerCharge, now: datetime
) -> CryptoCharge:
    current = await repo.get(conn, pending.invoice_id)
    assert current is not None
    if current.address is not None:
        return current  # another attempt recorded the answer already
    # A callback that overtook this answer may have recorded the charge id and
    # status already: they are newer than the answer's.
    assert current.charge_id in (None, answer.charge_id)
    opened = replace(
        current,
        charge_id=answer.charge_id,
        address=answer.address,
        expires_at=answer.expires_at,
        charge_status=current.charge_status or answer.status,
        updated_at=now,
    )
    await repo.update(conn, opened)
    return opened


async def release_intent(conn: Conn, request: UpgradeRequest) -> None:
    """The key server refused: no charge exists, so the upgrade leaves nothing behind."""
    await repo.delete(conn, request.invoice_id)
    await upgrades.release_upgrade(conn, request)


def upgrade_body(invoice: Invoice, charge: CryptoCharge) -> dict[str, Any]:
    """The 202 answer (and its replays): the invoice to pay and where to pay it."""
    assert charge.charge_id is not None and charge.address is not None
    assert charge.expires_at is not None
    return {
        "tier": invoice.plan_code,
        "pay_with": CRYPTO,
        "invoice": {
            "invoice_id": str(invoice.id),
            "status": invoice.status,
            "usd_cents": invoice.usd_cents,
            "asset": invoice.asset,
            "amount": invoice.amount_minor,
            "rate": invoices.rate_wire(invoice),
            "pay_to": {
                "chain": charge.chain,
                "address": charge.address,
                "amount": charge.amount_minor,
                "expires_at": rfc3339(charge.expires_at),
                "charge_id": str(charge.charge_id),
            },
        },
    }
