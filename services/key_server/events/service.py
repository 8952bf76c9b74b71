"""Ingesting chain events: idempotent per output, confirmations only ever go up.

An event names an output (chain, txid, vout | log_index) paying an amount to
an address. The first report records it; later reports of the same output can
only raise its confirmation count (a lower count, e.g. during a reorg, is
ignored: the watcher reports again as the chain settles). A report that
disagrees with the recorded address or amount is refused (409
`event_conflict`) and changes nothing: either the watcher is broken or
someone is lying, and money must not follow either.

When an output reaches its chain's confirmation count it is stamped
`confirmed_at` once; that moment, in the same transaction, owes the deposit
credit (deposits) or re-decides the charge (charges). Outputs to addresses we
never handed out are recorded too, so that nothing sent to the wallet is lost
from view.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection

from services.key_server.addresses import repository as addresses_repo
from services.key_server.addresses.service import normalise_address
from services.key_server.chains import repository as chains_repo
from services.key_server.chains.repository import ChainRow
from services.key_server.charges import service as charges
from services.key_server.charges.status import EXPIRY_ANNOUNCED
from services.key_server.deposits import service as deposits
from services.key_server.derivation import ChainKind
from services.key_server.errors import EventConflict, InvalidRequest, UnknownChain
from services.key_server.events import repository as repo
from services.key_server.events.repository import OutputRow
from services.key_server.events.schemas import ChainEvent

_TXID = re.compile(r"(0x)?([0-9a-fA-F]{64})")


@dataclass(frozen=True)
class EventOutcome:
    chain_id: str
    txid: str
    output_index: int
    outcome: str  # new, updated, unchanged
    matched: str | None  # deposit, charge, None
    confirmations: int
    confirmed: bool
    newly_confirmed: bool
    credit_id: uuid.UUID | None = None
    charge_id: uuid.UUID | None = None
    charge_status: str | None = None


def ingest_event(
    conn: Connection, watcher_id: str, event: ChainEvent, now: datetime
) -> EventOutcome:
    chain = chains_repo.get_chain(conn, event.chain, include_deleted=True)
    if chain is None:
        raise UnknownChain(f"no chain {event.chain!r}", chain=event.chain)
    output_index = _output_index(chain, event)
    txid = normalise_txid(chain.kind, event.txid)
    address = normalise_address(chain.kind, event.address)
    target = addresses_repo.find_address(conn, chain.id, address)
    if target is not None and target.purpose == charges.CHARGE:
        charge = charges.lock_for_payment(conn, target.id)
        if charge.status in EXPIRY_ANNOUNCED:
            # Its expiry was announced before this payment was recorded: whatever
            # the event's own time, the payment reached a charge already expired.
            now = max(now, charge.expires_at)
    reaches = event.confirmations >= chain.confirmations
    fresh = OutputRow(
        id=uuid.uuid4(),
        chain_id=chain.id,
        txid=txid,
        output_index=output_index,
        address=address,
        address_id=target.id if target is not None else None,
        amount=event.amount,
        confirmations=event.confirmations,
        watcher_id=watcher_id,
        first_seen_at=now,
        updated_at=now,
        confirmed_at=now if reaches else None,
    )
    if repo.insert_output(conn, fresh):
        output, outcome, newly_confirmed = fresh, "new", reaches
    else:
        output, outcome, newly_confirmed = _update(conn, chain, fresh, now)
    matched = target.purpose if target is not None else None
    result = EventOutcome(
        chain_id=chain.id,
        txid=txid,
        output_index=output_index,
        outcome=outcome,
        matched=matched,
        confirmations=output.confirmations,
        confirmed=output.confirmed_at is not None,
        newly_confirmed=newly_confirmed,
    )
    if target is None or outcome == "unchanged":
        return result
    if target.purpose == deposits.DEPOSIT:
        if not newly_confirmed:
            return result
        credit_id = deposits.owe_credit(
            conn, chain, target, output.id, txid, output_index, output.amount, now
        )
        return replace(result, credit_id=credit_id)
    charge_id, status = charges.apply_payment(conn, target.id, now)
    return replace(result, charge_id=charge_id, charge_status=status.value)


def normalise_txid(kind: str, txid: str) -> str:
    match = _TXID.fullmatch(txid.strip())
    if match is None:
        raise InvalidRequest(
            "a txid is 64 hexadecimal characters (0x-prefixed on EVM chains)", field="txid"
        )
    digits = match.group(2).lower()
    return "0x" + digits if kind == ChainKind.EVM.value else digits


def _output_index(chain: ChainRow, event: ChainEvent) -> int:
    if chain.kind == ChainKind.EVM.value:
        if event.log_index is None:
            raise InvalidRequest("an EVM chain's outputs are named by log_index", field="log_index")
        return event.log_index
    if event.vout is None:
        raise InvalidRequest(f"a {chain.kind} chain's outputs are named by vout", field="vout")
    return event.vout


def _update(
    conn: Connection, chain: ChainRow, reported: OutputRow, now: datetime
) -> tuple[OutputRow, str, bool]:
    existing = repo.lock_output(conn, chain.id, reported.txid, reported.output_index)
    if existing.address != reported.address or existing.amount != reported.amount:
        raise EventConflict(
            "this output was reported before with a different address or amount",
            txid=reported.txid,
            output=reported.output_index,
        )
    confirmations = max(existing.confirmations, reported.confirmations)
    becomes_confirmed = existing.confirmed_at is None and confirmations >= chain.confirmations
    if confirmations == existing.confirmations and not becomes_confirmed:
        return existing, "unchanged", False
    updated = repo.update_output(
        conn,
        existing.id,
        confirmations,
        existing.confirmed_at or (now if becomes_confirmed else None),
        now,
    )
    return updated, "updated", becomes_confirmed
