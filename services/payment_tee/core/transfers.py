"""Transfers between agent accounts: hub routing (with commission) and internal moves.

Decided against the batch's locked view, in this order: replay an already
used idempotency key (before any check, so a replay always replays) ->
accounts exist -> fee leaves something to deliver -> no overdraft -> a slot
left in the month's allowance. Then one entry: payer -amount, payee +net,
fee revenue +fee; the audit row goes on the payer's chain.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from services.payment_tee.core.commands import TransferCommand, TransferKind
from services.payment_tee.core.engine import Operation
from services.payment_tee.core.errors import AssetMismatch, InsufficientFunds, TierLimitReached
from services.payment_tee.core.fees import fee_bps_for, split_amount
from services.payment_tee.core.ledger import PostingResult
from services.payment_tee.core.platform import FEE_REVENUE, PlatformAccounts
from services.payment_tee.core.records import AccountRef, Line
from services.payment_tee.core.state import BatchState, EntryDraft
from services.payment_tee.core.tiers import monthly_limit


class PostTransfer(Operation):
    def __init__(self, cmd: TransferCommand) -> None:
        self.cmd = cmd
        self.fee_account_id: int | None = None

    def validate(self) -> None:
        self.cmd.validate()
        if self.cmd.payer.asset != self.cmd.payee.asset:
            raise AssetMismatch("payer and payee accounts hold different assets")

    async def prepare(self, conn: psycopg.AsyncConnection[Any], platform: PlatformAccounts) -> None:
        if self.cmd.kind is TransferKind.HUB_ROUTING:
            self.fee_account_id = await platform.id_for(conn, FEE_REVENUE, self.cmd.payer.asset)

    def owners(self) -> set[uuid.UUID]:
        return {self.cmd.payer.owner_id, self.cmd.payee.owner_id}

    def account_refs(self) -> set[AccountRef]:
        return {self.cmd.payer, self.cmd.payee}

    def idempotency_keys(self) -> set[tuple[str, str]]:
        return {(self.cmd.scope, self.cmd.idempotency_key)}

    def decide(self, state: BatchState) -> PostingResult:
        cmd = self.cmd
        fingerprint = cmd.fingerprint()
        replayed = state.replay(cmd.scope, cmd.idempotency_key, fingerprint)
        if replayed is not None:
            return replayed
        payer = state.account(cmd.payer, "payer")
        # "payee" names another agent (the gateway says `unknown_recipient`); an
        # internal transfer's destination is the agent's own, merely not found.
        internal = cmd.kind is TransferKind.INTERNAL
        payee = state.account(cmd.payee, "agent" if internal else "payee")
        holder = state.holder(payer.owner_id)
        fee_bps = fee_bps_for(holder.tier) if cmd.kind is TransferKind.HUB_ROUTING else 0
        fee, net = split_amount(cmd.amount, fee_bps)
        if payer.balance < cmd.amount:
            raise InsufficientFunds(
                "the payer's available balance is lower than the amount",
                available=payer.balance,
                amount=cmd.amount,
            )
        limit = monthly_limit(holder.tier)
        if limit is not None and holder.transfers_this_month >= limit:
            raise TierLimitReached(
                f"the {holder.tier.value} tier allows {limit} outgoing transfers per month",
                current_count=holder.transfers_this_month,
                limit=limit,
                tier=holder.tier.value,
            )
        lines = [Line(payer.id, -cmd.amount), Line(payee.id, net)]
        if fee:
            assert self.fee_account_id is not None
            lines.append(Line(self.fee_account_id, fee))
        draft = EntryDraft(
            kind=cmd.kind.value,
            scope=cmd.scope,
            idempotency_key=cmd.idempotency_key,
            request_hash=fingerprint,
            asset=payer.asset,
            amount=cmd.amount,
            fee=fee,
            fee_bps=fee_bps,
            debit_account_id=payer.id,
            credit_account_id=payee.id,
            from_label=str(payer.owner_id),
            to_label=str(payee.owner_id),
            from_account=payer.name,
            to_account=payee.name,
            payer_owner_id=payer.owner_id,
            payee_owner_id=payee.owner_id,
            memo=cmd.memo,
        )
        state.count_transfer(holder)
        return state.post(
            draft,
            lines,
            audit_account=payer,
            action=f"{cmd.kind.value}.posted",
            actor=f"agent:{payer.owner_id}",
            details={"amount": cmd.amount, "fee": fee, "to_account": payee.id},
        )
