"""Charges (an agent pays the platform: a fee, a subscription) and their refunds.

A charge debits the agent account into a platform revenue account named by
its purpose ("revenue:subscription"). A caller that no longer wants a charge
whose outcome it does not know cancels its key (CancelCharge): the answer is
the charge's receipt if it posted, or a cancellation that refuses any later
charge under that key (decided under the agent's holder lock, like the charge).
A refund credits part or all of a charge back to the account it came from;
the refunds of one charge never add up to more than the charge (checked with
the agent's holder locked, so concurrent refunds cannot both pass).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import psycopg

from services.payment_tee.core import batch_repository as batch_repo
from services.payment_tee.core.commands import (
    CancelChargeCommand,
    ChargeCommand,
    RefundCommand,
)
from services.payment_tee.core.engine import OneAccountOperation, Operation
from services.payment_tee.core.errors import (
    ChargeCancelled,
    IdempotencyKeyReused,
    InsufficientFunds,
    ReceiptNotFound,
    RefundExceedsCharge,
)
from services.payment_tee.core.ledger import ChargeCancellation, PostingResult, receipt_from_row
from services.payment_tee.core.platform import PlatformAccounts, label
from services.payment_tee.core.records import AccountRef, Line
from services.payment_tee.core.state import BatchState, EntryDraft

CHARGE = "charge"
REFUND = "refund"


def revenue_account_name(purpose: str) -> str:
    return f"revenue:{purpose}"


class PostCharge(OneAccountOperation[ChargeCommand]):
    def __init__(self, cmd: ChargeCommand) -> None:
        super().__init__(cmd)
        self.revenue_id = 0

    async def prepare(self, conn: psycopg.AsyncConnection[Any], platform: PlatformAccounts) -> None:
        self.revenue_id = await platform.id_for(
            conn, revenue_account_name(self.cmd.purpose), self.cmd.account.asset
        )

    def cancellable_keys(self) -> set[tuple[str, str]]:
        return {self.key}

    def decide(self, state: BatchState) -> PostingResult:
        cmd = self.cmd
        fingerprint = cmd.fingerprint()
        replayed = state.replay(cmd.scope, cmd.idempotency_key, fingerprint)
        if replayed is not None:
            return replayed
        if self.key in state.cancelled_keys:
            raise ChargeCancelled("the charge under this idempotency key was cancelled")
        account = state.account(cmd.account, "payer")
        if account.balance < cmd.amount:
            raise InsufficientFunds(
                "the balance is lower than the charge", available=account.balance, amount=cmd.amount
            )
        revenue = revenue_account_name(cmd.purpose)
        draft = EntryDraft(
            kind=CHARGE,
            scope=cmd.scope,
            idempotency_key=cmd.idempotency_key,
            request_hash=fingerprint,
            asset=account.asset,
            amount=cmd.amount,
            fee=0,
            fee_bps=0,
            debit_account_id=account.id,
            credit_account_id=self.revenue_id,
            from_label=str(account.owner_id),
            to_label=label(revenue),
            from_account=account.name,
            to_account=revenue,
            payer_owner_id=account.owner_id,
            memo=cmd.memo,
        )
        return state.post(
            draft,
            [Line(account.id, -cmd.amount), Line(self.revenue_id, cmd.amount)],
            audit_account=account,
            action="charge.posted",
            actor=cmd.actor,
            details={"amount": cmd.amount, "purpose": cmd.purpose},
        )


class CancelCharge(OneAccountOperation[CancelChargeCommand]):
    def cancellable_keys(self) -> set[tuple[str, str]]:
        return {self.key}

    def decide(self, state: BatchState) -> ChargeCancellation:
        cmd = self.cmd
        account = state.account(cmd.account, "payer")
        posted = state.entries_by_key.get(self.key)
        if posted is None:
            state.cancel_charge(cmd.scope, cmd.idempotency_key, account, cmd.actor)
            return ChargeCancellation(cancelled=True)
        if posted["kind"] != CHARGE or posted["debit_account_id"] != account.id:
            # The key belongs to another posting: cancelling would say nothing true.
            raise IdempotencyKeyReused(
                "this idempotency key belongs to another posting, not a charge on this account",
                payment_id=str(posted["id"]),
            )
        return ChargeCancellation(cancelled=False, receipt=receipt_from_row(posted))


class PostRefund(Operation):
    def __init__(self, cmd: RefundCommand) -> None:
        self.cmd = cmd
        self.charge: Mapping[str, Any] | None = None

    def validate(self) -> None:
        self.cmd.validate()

    async def prepare(self, conn: psycopg.AsyncConnection[Any], platform: PlatformAccounts) -> None:
        # Entries are append-only: what is read here stays true after the lock.
        charge = await batch_repo.get_entry(conn, self.cmd.charge_id)
        if charge is None or charge["kind"] != CHARGE:
            raise ReceiptNotFound(f"no charge {self.cmd.charge_id}")
        self.charge = charge

    def _account_ref(self) -> AccountRef:
        assert self.charge is not None
        c = self.charge
        return AccountRef(c["payer_owner_id"], c["from_account"], c["asset"])

    def owners(self) -> set[uuid.UUID]:
        return {self._account_ref().owner_id}

    def account_refs(self) -> set[AccountRef]:
        return {self._account_ref()}

    def idempotency_keys(self) -> set[tuple[str, str]]:
        return {(self.cmd.scope, self.cmd.idempotency_key)}

    def charge_ids(self) -> set[uuid.UUID]:
        return {self.cmd.charge_id}

    def decide(self, state: BatchState) -> PostingResult:
        cmd, charge = self.cmd, self.charge
        assert charge is not None
        fingerprint = cmd.fingerprint()
        replayed = state.replay(cmd.scope, cmd.idempotency_key, fingerprint)
        if replayed is not None:
            return replayed
        account = state.account(self._account_ref(), "holder")
        already = state.refunded.get(cmd.charge_id, 0)
        if already + cmd.amount > charge["amount"]:
            raise RefundExceedsCharge(
                "refunds would exceed the original charge",
                charged=charge["amount"],
                already_refunded=already,
                requested=cmd.amount,
            )
        revenue_id: int = charge["credit_account_id"]
        draft = EntryDraft(
            kind=REFUND,
            scope=cmd.scope,
            idempotency_key=cmd.idempotency_key,
            request_hash=fingerprint,
            asset=account.asset,
            amount=cmd.amount,
            fee=0,
            fee_bps=0,
            debit_account_id=revenue_id,
            credit_account_id=account.id,
            from_label=charge["to_label"],
            to_label=str(account.owner_id),
            from_account=charge["to_account"],
            to_account=account.name,
            payee_owner_id=account.owner_id,
            memo=cmd.memo,
            related_entry_id=cmd.charge_id,
        )
        state.refunded[cmd.charge_id] = already + cmd.amount
        return state.post(
            draft,
            [Line(revenue_id, -cmd.amount), Line(account.id, cmd.amount)],
            audit_account=account,
            action="refund.posted",
            actor=cmd.actor,
            details={"amount": cmd.amount, "charge_id": str(cmd.charge_id)},
        )
