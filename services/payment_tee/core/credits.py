"""Money entering an agent account from outside: deposits and operator credits.

Lines: platform source account -amount (its balance, derived from lines,
goes negative: it counts money that came in from outside), agent +amount.
The audit row goes on the credited account's chain.
"""

from __future__ import annotations

from typing import Any

import psycopg

from services.payment_tee.core.commands import CreditCommand
from services.payment_tee.core.engine import OneAccountOperation
from services.payment_tee.core.ledger import PostingResult
from services.payment_tee.core.platform import PlatformAccounts, label
from services.payment_tee.core.records import Line
from services.payment_tee.core.state import BatchState, EntryDraft


class CreditAccount(OneAccountOperation[CreditCommand]):
    def __init__(self, cmd: CreditCommand) -> None:
        super().__init__(cmd)
        self.source_id = 0

    async def prepare(self, conn: psycopg.AsyncConnection[Any], platform: PlatformAccounts) -> None:
        self.source_id = await platform.id_for(conn, self.cmd.source, self.cmd.account.asset)

    def decide(self, state: BatchState) -> PostingResult:
        cmd = self.cmd
        fingerprint = cmd.fingerprint()
        replayed = state.replay(cmd.scope, cmd.idempotency_key, fingerprint)
        if replayed is not None:
            return replayed
        account = state.account(cmd.account, "holder")
        draft = EntryDraft(
            kind="credit",
            scope=cmd.scope,
            idempotency_key=cmd.idempotency_key,
            request_hash=fingerprint,
            asset=account.asset,
            amount=cmd.amount,
            fee=0,
            fee_bps=0,
            debit_account_id=self.source_id,
            credit_account_id=account.id,
            from_label=label(cmd.source),
            to_label=str(account.owner_id),
            from_account=cmd.source,
            to_account=account.name,
            payee_owner_id=account.owner_id,
            memo=cmd.memo,
        )
        return state.post(
            draft,
            [Line(self.source_id, -cmd.amount), Line(account.id, cmd.amount)],
            audit_account=account,
            action="credit.posted",
            actor=cmd.actor,
            details={"amount": cmd.amount, "source": cmd.source},
        )
