"""PAYMENT_VIA_TEE: send to the TEE; fall back to the in-process core only where safe.

Fallback happens when the TEE could not answer (no connection, no answer in
time, UNAVAILABLE) or answered a fault (INTERNAL): never on a business
refusal, which is the same answer the local core would give. It is safe
because both paths share the ledger and the idempotency key travels with the
request: a transfer the TEE committed but whose answer was lost is replayed
by the local core, not executed twice. With PAYMENT_TEE_FALLBACK=false the
caller gets 503 `payment_core_unavailable` instead.

When the gateway checks attestation (TEE_EXPECTED_MEASUREMENTS set) and the
TEE's last attestation did not verify, the TEE counts as unreachable: no
money goes to a service that cannot prove what it is.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Histogram

from services.payment_client.errors import PaymentCoreUnavailable, TeeUnavailable
from services.payment_client.grpc_client import GrpcDispatcher
from services.payment_client.local import LocalDispatcher
from services.payment_tee.core.commands import (
    CancelChargeCommand,
    ChargeCommand,
    CreditCommand,
    RefundCommand,
    TransferCommand,
)
from services.payment_tee.core.errors import PaymentError
from services.payment_tee.core.history import ReceiptPage
from services.payment_tee.core.ledger import ChargeCancellation, PostingResult
from services.payment_tee.core.receipts import Receipt
from services.payment_tee.core.records import AccountBalance, Balance, Holder, Usage
from services.payment_tee.core.tiers import Tier

log = logging.getLogger("sealpay.gateway.dispatch")

T = TypeVar("T")

TEE_DISPATCH = Counter(
    "sealpay_tee_dispatch_total",
    "Calls to the payment core by where they were served: tee, fallback_unreachable, "
    "fallback_5xx, refused (a business refusal from the TEE), unavailable (503), "
    "unattested_signer (posted, but signed by a key no attestation vouched for).",
    ["outcome"],
)
TEE_LATENCY = Histogram(
    "sealpay_tee_dispatch_seconds",
    "Latency of calls answered by the TEE (refusals included).",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class SwitchingDispatcher:
    def __init__(self, tee: GrpcDispatcher, local: LocalDispatcher | None) -> None:
        self.tee = tee
        self.local = local
        self.default_asset = tee.default_asset
        self.tee_trusted = True  # set by the attestation checker when it runs
        # The receipt key (base64) the TEE's latest verified attestation vouched
        # for; None when attestation is not checked. `distrust` is the checker's.
        self.attested_receipt_key: str | None = None
        self.distrust: Callable[[], None] = self._untrust
        self.tee_serving = True  # the checker's latest health poll

    def can_serve(self) -> bool:
        """Whether a money call can be answered now: by the TEE (serving and
        trusted), or by the in-process fallback when it is allowed."""
        return self.local is not None or (self.tee_trusted and self.tee_serving)

    async def _dispatch(self, method: str, call: Callable[[Any], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            if not self.tee_trusted:
                raise TeeUnavailable("unreachable", "the TEE's attestation did not verify")
            result = await call(self.tee)
        except PaymentError:
            TEE_LATENCY.labels(method).observe(time.perf_counter() - started)
            TEE_DISPATCH.labels("refused").inc()
            raise
        except TeeUnavailable as exc:
            return await self._fall_back(method, call, exc)
        TEE_LATENCY.labels(method).observe(time.perf_counter() - started)
        TEE_DISPATCH.labels("tee").inc()
        self._check_signer(method, result)
        return result

    def _check_signer(self, method: str, result: object) -> None:
        """A new posting must be signed by the key the attestation vouched for.

        A TEE restarted or replaced between two health polls is never seen down;
        its receipt key, made at its boot, gives it away on its first posting.
        That posting stands (it is in the ledger), but no more money goes to
        the TEE until what answers there attests. Replays are exempt: they carry
        the signature of whichever instance posted them first."""
        expected = self.attested_receipt_key
        if expected is None or not isinstance(result, PostingResult) or result.replayed:
            return
        if result.receipt.signing_key != expected:
            TEE_DISPATCH.labels("unattested_signer").inc()
            log.error(
                "tee.receipt_key.unattested",
                extra={"method": method, "signing_key": result.receipt.signing_key},
            )
            self.distrust()

    def _untrust(self) -> None:
        self.tee_trusted = False

    async def _fall_back(
        self, method: str, call: Callable[[Any], Awaitable[T]], cause: TeeUnavailable
    ) -> T:
        if self.local is None:
            TEE_DISPATCH.labels("unavailable").inc()
            log.error("tee.unavailable", extra={"method": method, "cause": cause.detail})
            raise PaymentCoreUnavailable(cause.detail) from cause
        outcome = "fallback_unreachable" if cause.kind == "unreachable" else "fallback_5xx"
        TEE_DISPATCH.labels(outcome).inc()
        log.warning("tee.fallback", extra={"method": method, "cause": cause.detail})
        return await call(self.local)

    # --- the PaymentDispatcher interface -----------------------------------------------

    async def transfer(self, cmd: TransferCommand) -> PostingResult:
        return await self._dispatch("Transfer", lambda d: d.transfer(cmd))

    async def credit(self, cmd: CreditCommand) -> PostingResult:
        return await self._dispatch("Credit", lambda d: d.credit(cmd))

    async def charge(self, cmd: ChargeCommand) -> PostingResult:
        return await self._dispatch("Charge", lambda d: d.charge(cmd))

    async def cancel_charge(self, cmd: CancelChargeCommand) -> ChargeCancellation:
        return await self._dispatch("CancelCharge", lambda d: d.cancel_charge(cmd))

    async def refund(self, cmd: RefundCommand) -> PostingResult:
        return await self._dispatch("Refund", lambda d: d.refund(cmd))

    async def set_tier(self, owner_id: uuid.UUID, tier: Tier, actor: str) -> Holder:
        return await self._dispatch("SetTier", lambda d: d.set_tier(owner_id, tier, actor))

    async def register_holder(self, owner_id: uuid.UUID) -> Holder:
        return await self._dispatch("RegisterHolder", lambda d: d.register_holder(owner_id))

    async def open_account(
        self, owner_id: uuid.UUID, name: str, asset: str | None = None
    ) -> AccountBalance:
        return await self._dispatch("OpenAccount", lambda d: d.open_account(owner_id, name, asset))

    async def balance(self, owner_id: uuid.UUID, asset: str | None = None) -> Balance:
        return await self._dispatch("GetBalance", lambda d: d.balance(owner_id, asset))

    async def usage(self, owner_id: uuid.UUID) -> Usage:
        return await self._dispatch("GetUsage", lambda d: d.usage(owner_id))

    async def receipt(self, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Receipt:
        return await self._dispatch("GetReceipt", lambda d: d.receipt(owner_id, payment_id))

    async def receipts(self, owner_id: uuid.UUID, limit: int, cursor: str | None) -> ReceiptPage:
        return await self._dispatch("ListReceipts", lambda d: d.receipts(owner_id, limit, cursor))

    async def close(self) -> None:
        await self.tee.close()
        if self.local is not None:
            await self.local.close()
