"""The credit job: post an owed deposit credit to the ledger, through the payment core.

Safe to run any number of times: the Credit carries the idempotency key
`deposit:<chain>:<txid>:<output>`, so a second call (a retry after a lost
answer, a duplicate job) is answered with the original receipt and moves
nothing; the row turns `credited` once. A refusal or an unreachable core
raises, and procrastinate retries with backoff; the row stays `owed` (with its
last error) until a call succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from services.key_server.deposits import repository as repo
from services.key_server.deposits.repository import CreditRow
from services.key_server.jobs.runtime import WorkerRuntime
from services.key_server.metrics import DEPOSITS_CREDITED
from services.payment_tee.core.commands import CreditCommand
from services.payment_tee.core.errors import AccountExists, PaymentError, UnknownAccount
from services.payment_tee.core.ledger import PostingResult
from services.payment_tee.core.records import MAIN_ACCOUNT, AccountRef

log = logging.getLogger("sealpay.key_server.deposits")

DEPOSIT_SCOPE = "deposit"
ACTOR = "key_server"


def credit_command(credit: CreditRow) -> CreditCommand:
    """The same command for every attempt (the core checks the parameters match the key)."""
    return CreditCommand(
        account=AccountRef(credit.agent_id, MAIN_ACCOUNT, credit.asset),
        amount=credit.amount,
        idempotency_key=credit.idempotency_key,
        source=f"deposits:{credit.chain_id}",
        scope=DEPOSIT_SCOPE,
        actor=ACTOR,
        memo=credit.idempotency_key,
    )


async def credit_deposit(runtime: WorkerRuntime, credit_id: uuid.UUID) -> None:
    credit = await asyncio.to_thread(_load, runtime, credit_id)
    if credit is None or credit.status == "credited":
        return
    try:
        result = await _credit(runtime, credit)
    except Exception as exc:
        error = exc.code if isinstance(exc, PaymentError) else type(exc).__name__
        await asyncio.to_thread(_record_failure, runtime, credit_id, f"{error}: {exc}"[:500])
        log.warning(
            "key_server.deposit.credit_failed",
            extra={"credit_id": str(credit_id), "chain": credit.chain_id, "error": error},
        )
        raise
    payment_id = result.receipt.payment_id
    if await asyncio.to_thread(_mark_credited, runtime, credit_id, payment_id):
        DEPOSITS_CREDITED.labels(credit.chain_id).inc()
        log.info(
            "key_server.deposit.credited",
            extra={
                "credit_id": str(credit_id),
                "chain": credit.chain_id,
                "payment_id": payment_id,
                "replayed": result.replayed,
            },
        )


async def _credit(runtime: WorkerRuntime, credit: CreditRow) -> PostingResult:
    """Post the credit; a deposit in an asset the agent holds no account in yet
    opens its `main` account in that asset, then posts (same idempotency key)."""
    try:
        return await runtime.dispatcher.credit(credit_command(credit))
    except UnknownAccount:
        with contextlib.suppress(AccountExists):
            await runtime.dispatcher.open_account(credit.agent_id, MAIN_ACCOUNT, credit.asset)
        return await runtime.dispatcher.credit(credit_command(credit))


def _load(runtime: WorkerRuntime, credit_id: uuid.UUID) -> CreditRow | None:
    with runtime.engine.connect() as conn:
        return repo.get_credit(conn, credit_id)


def _record_failure(runtime: WorkerRuntime, credit_id: uuid.UUID, error: str) -> None:
    with runtime.engine.begin() as conn:
        repo.record_attempt(conn, credit_id, error)


def _mark_credited(runtime: WorkerRuntime, credit_id: uuid.UUID, payment_id: str) -> bool:
    with runtime.engine.begin() as conn:
        return repo.mark_credited(conn, credit_id, payment_id, runtime.clock.now())
