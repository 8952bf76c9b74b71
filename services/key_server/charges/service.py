"""Charges: "pay this amount to this fresh address before this time".

Billing's crypto rail creates them; chain events move them along
(`apply_payment`); the sweeper, or a read, settles the ones their expiry
decides (`expire_due`, `get_charge`): expired when nothing reached them,
underpaid when what was confirmed fell short. Every status change that a `callback_url` should
hear about writes its callback to the outbox in the same transaction
(callbacks.py). See status.py for what each status means.

An `Idempotency-Key` on creation makes a retried request return the same
charge (and address) instead of allocating another.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from services.common.ids import IDEMPOTENCY_KEY_RULE, is_idempotency_key
from services.key_server.addresses import repository as addresses_repo
from services.key_server.addresses.service import allocate_address
from services.key_server.chains import repository as chains_repo
from services.key_server.chains.keys import ChainKeys
from services.key_server.chains.repository import ChainRow
from services.key_server.chains.service import active_chain
from services.key_server.charges import callbacks
from services.key_server.charges import repository as repo
from services.key_server.charges.repository import ChargeRow
from services.key_server.charges.schemas import CreateCharge
from services.key_server.charges.status import (
    EXPIRY_ANNOUNCED,
    ChargeStatus,
    Payment,
    decide_status,
)
from services.key_server.errors import IdempotencyKeyReused, InvalidRequest, NotFound
from services.key_server.events import repository as outputs_repo
from services.key_server.events.repository import OutputRow

CHARGE = "charge"


@dataclass(frozen=True)
class ChargeView:
    charge: ChargeRow
    address: str
    confirmations_required: int
    outputs: list[OutputRow]

    @property
    def amount_received(self) -> int:
        return amount_received(self.outputs)

    @property
    def amount_seen(self) -> int:
        return sum(o.amount for o in self.outputs)

    @property
    def txids(self) -> list[str]:
        return txids(self.outputs)

    @property
    def paid_late(self) -> bool:
        return paid_late(self.outputs, self.charge.expires_at)


def amount_received(outputs: list[OutputRow]) -> int:
    """What counts towards the amount: confirmed outputs only."""
    return sum(o.amount for o in outputs if o.confirmed_at is not None)


def txids(outputs: list[OutputRow]) -> list[str]:
    return list(dict.fromkeys(o.txid for o in outputs))


def paid_late(outputs: list[OutputRow], expires_at: datetime) -> bool:
    return any(o.first_seen_at >= expires_at for o in outputs)


def create_charge(
    conn: Connection,
    keys: ChainKeys,
    body: CreateCharge,
    idempotency_key: str | None,
    now: datetime,
) -> tuple[ChargeView, bool]:
    """(charge, replayed)."""
    request_hash = _request_hash(body)
    if idempotency_key is not None:
        if not is_idempotency_key(idempotency_key):
            raise InvalidRequest(
                f"Idempotency-Key must be {IDEMPOTENCY_KEY_RULE}",
                field="Idempotency-Key",
            )
        repo.lock_idempotency_key(conn, idempotency_key)
        existing = repo.charge_by_idempotency_key(conn, idempotency_key)
        if existing is not None:
            if existing.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different charge",
                    charge_id=str(existing.id),
                )
            return _view(conn, existing), True
    chain = active_chain(conn, body.chain)
    address = allocate_address(conn, keys, chain, CHARGE, None, now)
    row = ChargeRow(
        id=uuid.uuid4(),
        chain_id=chain.id,
        address_id=address.id,
        amount=body.amount,
        reference=body.reference,
        status=ChargeStatus.PENDING.value,
        callback_url=str(body.callback_url) if body.callback_url is not None else None,
        expires_at=now + timedelta(seconds=body.expires_in),
        idempotency_key=idempotency_key,
        request_hash=request_hash if idempotency_key is not None else None,
        created_at=now,
        updated_at=now,
    )
    repo.insert_charge(conn, row)
    return ChargeView(row, address.address, chain.confirmations, []), False


def get_charge(conn: Connection, charge_id: uuid.UUID, now: datetime) -> ChargeView:
    """The charge, settled first if its time is up (expired, or underpaid)."""
    charge = repo.get_charge(conn, charge_id)
    if charge is None:
        raise NotFound(f"no charge {charge_id}")
    if charge.status in _DECIDED_AT_EXPIRY and charge.expires_at <= now:
        charge = repo.get_charge(conn, charge_id, lock=True)
        assert charge is not None
        _settle(conn, charge, now)
        charge = repo.get_charge(conn, charge_id)
        assert charge is not None
    return _view(conn, charge)


# Statuses that the expiry itself can change (to expired, or to underpaid).
_DECIDED_AT_EXPIRY = frozenset({ChargeStatus.PENDING, ChargeStatus.SEEN})


def lock_for_payment(conn: Connection, address_id: uuid.UUID) -> ChargeRow:
    """Lock the charge behind `address_id` before a payment to it is recorded.

    The expiry sweep skips a locked charge, so it cannot announce `expired`
    while a payment that arrived in time is being recorded (before, it could
    lock the charge between the payment's insert and its re-decision, unable
    to see the uncommitted output)."""
    charge = repo.get_charge(conn, repo.charge_for_address(conn, address_id), lock=True)
    assert charge is not None
    return charge


def apply_payment(
    conn: Connection, address_id: uuid.UUID, now: datetime
) -> tuple[uuid.UUID, ChargeStatus]:
    """Re-decide the status of the charge behind `address_id` after an output changed."""
    charge = lock_for_payment(conn, address_id)
    return charge.id, _settle(conn, charge, now)


# An output still unconfirmed this long after it was first seen is taken as
# dropped: replaced by a fee bump, evicted from the mempool, or its txid
# malleated; no watcher reports that, and confirmations only go up. Once the
# charge has expired it is decided without such outputs, so it still reaches
# a final status (underpaid or expired) instead of staying `seen` for good.
# Should one confirm after all, the charge is decided again with it (paid late).
DROPPED_AFTER = timedelta(hours=24)


def _dropped(output: OutputRow, now: datetime) -> bool:
    return output.confirmed_at is None and output.first_seen_at + DROPPED_AFTER <= now


def expire_due(conn: Connection, now: datetime, limit: int = 500) -> int:
    """Settle charges whose expiry decides them: expire the ones nothing reached,
    mark underpaid the ones whose confirmed payments fell short; how many changed."""
    settled = 0
    for charge_id in repo.lock_due_unsettled(conn, now, now - DROPPED_AFTER, limit):
        charge = repo.get_charge(conn, charge_id)
        assert charge is not None
        if _settle(conn, charge, now) != charge.status:
            settled += 1
    return settled


def _settle(conn: Connection, charge: ChargeRow, now: datetime) -> ChargeStatus:
    """Decide the (locked) charge's status now; record and announce a change."""
    outputs = outputs_repo.outputs_for_address(conn, charge.address_id)
    expired = charge.status in EXPIRY_ANNOUNCED or charge.expires_at <= now
    counted = [o for o in outputs if not (expired and _dropped(o, now))]
    payments = [Payment(o.amount, o.confirmed_at is not None) for o in counted]
    status = decide_status(charge.amount, payments, expired=expired)
    if status != charge.status:
        repo.set_status(conn, charge.id, status.value, now)
        callbacks.announce(
            conn,
            charge,
            status,
            amount_received(outputs),
            txids(outputs),
            paid_late=paid_late(outputs, charge.expires_at),
            now=now,
        )
    return status


def _view(conn: Connection, charge: ChargeRow) -> ChargeView:
    chain: ChainRow | None = chains_repo.get_chain(conn, charge.chain_id, include_deleted=True)
    assert chain is not None
    address = addresses_repo.get_address(conn, charge.address_id)
    outputs = outputs_repo.outputs_for_address(conn, charge.address_id)
    return ChargeView(charge, address.address, chain.confirmations, outputs)


def _request_hash(body: CreateCharge) -> bytes:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()
