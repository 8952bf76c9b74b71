"""Payments as the gateway sees them: resolve who, build the command, dispatch, count.

Friendly checks here (unknown recipient, self-payment) give fast, clear errors;
the payment core repeats every check that matters, because it trusts nobody.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from prometheus_client import Counter

from services.common.problems import Problem
from services.gateway.agents.service import AgentDirectory
from services.gateway.auth import AuthenticatedAgent
from services.gateway.internal import InternalService
from services.payment_client.base import PaymentDispatcher
from services.payment_tee.core.commands import TransferCommand, TransferKind
from services.payment_tee.core.errors import PaymentError, TierLimitReached
from services.payment_tee.core.ledger import PostingResult
from services.payment_tee.core.records import MAIN_ACCOUNT, AccountRef

TRANSFERS = Counter(
    "sealpay_transfers_total",
    "Transfer requests by outcome (posted, replayed, or error code).",
    ["outcome"],
)
# How long a tier-limit refusal waits for billing's upgrade quote before it is
# sent without one.
QUOTE_WAIT_SECONDS = 2.0

TRANSFER_AMOUNT = Counter(
    "sealpay_transfer_amount_total", "Minor units moved by posted transfers.", ["asset"]
)


class Payments:
    def __init__(
        self, agents: AgentDirectory, dispatcher: PaymentDispatcher, billing: InternalService
    ) -> None:
        self.agents = agents
        self.dispatcher = dispatcher
        self.billing = billing

    async def pay_agent(
        self, payer: AuthenticatedAgent, to_agent: str, amount: int, memo: str | None, key: str
    ) -> PostingResult:
        payee = await self.agents.resolve(to_agent)
        if payee is None:
            TRANSFERS.labels("unknown_recipient").inc()
            raise Problem(404, "unknown_recipient", f"no agent named or with id {to_agent!r}")
        if payee.agent_id == payer.agent_id:
            TRANSFERS.labels("self_transfer").inc()
            raise Problem(422, "self_transfer", "an agent cannot pay itself")
        return await self._dispatch(
            TransferCommand(
                kind=TransferKind.HUB_ROUTING,
                payer=self._main(payer.agent_id),
                payee=self._main(payee.agent_id),
                amount=amount,
                idempotency_key=key,
                memo=memo,
            )
        )

    async def move_between_accounts(
        self,
        agent: AuthenticatedAgent,
        from_account: str,
        to_account: str,
        amount: int,
        memo: str | None,
        key: str,
    ) -> PostingResult:
        asset = self.dispatcher.default_asset
        return await self._dispatch(
            TransferCommand(
                kind=TransferKind.INTERNAL,
                payer=AccountRef(agent.agent_id, from_account, asset),
                payee=AccountRef(agent.agent_id, to_account, asset),
                amount=amount,
                idempotency_key=key,
                memo=memo,
            )
        )

    async def _pro_quote(self, owner: uuid.UUID) -> dict[str, Any] | None:
        """A ready quote for `pro`, so the 429 says what the way out costs.
        Best effort, and brief: the refusal stands, and arrives promptly, even
        when billing cannot quote (its rate feeds may take many seconds)."""
        try:
            # httpx's timeout bounds each phase (pool, connect, write, read) on its
            # own; this bounds the whole wait.
            async with asyncio.timeout(QUOTE_WAIT_SECONDS):
                quote, _ = await self.billing.call(
                    "POST",
                    f"/internal/agents/{owner}/upgrade-quote",
                    json={"tier": "pro"},
                    timeout=QUOTE_WAIT_SECONDS,
                )
        except (Problem, TimeoutError):
            return None
        return quote

    def _main(self, owner: uuid.UUID) -> AccountRef:
        return AccountRef(owner, MAIN_ACCOUNT, self.dispatcher.default_asset)

    async def _dispatch(self, cmd: TransferCommand) -> PostingResult:
        try:
            result = await self.dispatcher.transfer(cmd)
        except TierLimitReached as exc:
            TRANSFERS.labels(exc.code).inc()
            exc.details["upgrade_quote"] = await self._pro_quote(cmd.payer.owner_id)
            raise
        except PaymentError as exc:
            TRANSFERS.labels(exc.code).inc()
            raise
        if result.replayed:
            TRANSFERS.labels("replayed").inc()
        else:
            TRANSFERS.labels("posted").inc()
            TRANSFER_AMOUNT.labels(result.receipt.asset).inc(result.receipt.amount)
        return result
