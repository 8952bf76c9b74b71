"""gRPC servicers: thin adapters from protobuf to PaymentCore and back.

Refusals become the status codes of wire.py with the `sealpay-error-code` /
`sealpay-error-details` trailers; a database that cannot be reached is
UNAVAILABLE; anything else unexpected is INTERNAL. Only those two mean the
caller may fall back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import psycopg
from sqlalchemy.exc import OperationalError

from services.payment_tee import wire
from services.payment_tee.core.api import PaymentCore
from services.payment_tee.core.charges import CancelCharge, PostCharge, PostRefund
from services.payment_tee.core.credits import CreditAccount
from services.payment_tee.core.errors import PaymentError
from services.payment_tee.core.holders import SetTier
from services.payment_tee.core.transfers import PostTransfer
from services.payment_tee.server.attestor import Attestor, NonceError
from services.payment_tee.server.metrics import TeeMetrics
from services.protos.sealpay.payments.v1 import payments_pb2 as pb
from services.protos.sealpay.payments.v1 import payments_pb2_grpc as pb_grpc

log = logging.getLogger("sealpay.payment_tee")

T = TypeVar("T")


async def _answer(
    method: str,
    context: grpc.aio.ServicerContext,
    metrics: TeeMetrics,
    work: Callable[[], Awaitable[T]],
) -> T:
    try:
        result = await work()
    except PaymentError as refusal:
        status = wire.status_for(refusal)
        metrics.request(method, status.name)
        context.set_trailing_metadata(wire.error_metadata(refusal))
        await context.abort(status, refusal.message)
    except (OperationalError, psycopg.OperationalError) as exc:
        metrics.request(method, "UNAVAILABLE")
        log.error(
            "payments.database.unavailable", extra={"method": method, "error": str(exc)[:300]}
        )
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the ledger database is unavailable")
    except Exception:
        metrics.request(method, "INTERNAL")
        log.exception("payments.internal_error", extra={"method": method})
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    metrics.request(method, "OK")
    return result


class PaymentsServicer(pb_grpc.PaymentsServicer):  # type: ignore[misc]  # generated, untyped
    def __init__(self, core: PaymentCore, metrics: TeeMetrics) -> None:
        self.core = core
        self.metrics = metrics

    def _run(
        self, method: str, context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[T]]
    ) -> Awaitable[T]:
        return _answer(method, context, self.metrics, work)

    async def Transfer(self, request: pb.TransferRequest, context: Any) -> pb.PostingReply:
        async def work() -> pb.PostingReply:
            op = PostTransfer(wire.transfer_from_pb(request))
            return wire.posting_to_pb(await self.core.submit_async(op))

        return await self._run("Transfer", context, work)

    async def Credit(self, request: pb.CreditRequest, context: Any) -> pb.PostingReply:
        async def work() -> pb.PostingReply:
            op = CreditAccount(wire.credit_from_pb(request))
            return wire.posting_to_pb(await self.core.submit_async(op))

        return await self._run("Credit", context, work)

    async def Charge(self, request: pb.ChargeRequest, context: Any) -> pb.PostingReply:
        async def work() -> pb.PostingReply:
            op = PostCharge(wire.charge_from_pb(request))
            return wire.posting_to_pb(await self.core.submit_async(op))

        return await self._run("Charge", context, work)

    async def CancelCharge(
        self, request: pb.CancelChargeRequest, context: Any
    ) -> pb.CancelChargeReply:
        async def work() -> pb.CancelChargeReply:
            op = CancelCharge(wire.cancel_charge_from_pb(request))
            return wire.cancellation_to_pb(await self.core.submit_async(op))

        return await self._run("CancelCharge", context, work)

    async def Refund(self, request: pb.RefundRequest, context: Any) -> pb.PostingReply:
        async def work() -> pb.PostingReply:
            op = PostRefund(wire.refund_from_pb(request))
            return wire.posting_to_pb(await self.core.submit_async(op))

        return await self._run("Refund", context, work)

    async def SetTier(self, request: pb.SetTierRequest, context: Any) -> pb.HolderReply:
        async def work() -> pb.HolderReply:
            op = SetTier(
                wire.owner_from_pb(request.owner_id),
                wire.tier_from_pb(request.tier),
                self.core.default_asset,
                request.actor or "unknown",
            )
            return wire.holder_to_pb(await self.core.submit_async(op))

        return await self._run("SetTier", context, work)

    async def RegisterHolder(
        self, request: pb.RegisterHolderRequest, context: Any
    ) -> pb.HolderReply:
        async def work() -> pb.HolderReply:
            owner = wire.owner_from_pb(request.owner_id)
            return wire.holder_to_pb(await asyncio.to_thread(self.core.register_holder, owner))

        return await self._run("RegisterHolder", context, work)

    async def OpenAccount(self, request: pb.OpenAccountRequest, context: Any) -> pb.AccountBalance:
        async def work() -> pb.AccountBalance:
            owner = wire.owner_from_pb(request.owner_id)
            asset = request.asset if request.HasField("asset") else None
            opened = await asyncio.to_thread(self.core.open_account, owner, request.name, asset)
            return wire.account_balance_to_pb(opened)

        return await self._run("OpenAccount", context, work)

    async def GetBalance(self, request: pb.GetBalanceRequest, context: Any) -> pb.BalanceReply:
        async def work() -> pb.BalanceReply:
            owner = wire.owner_from_pb(request.owner_id)
            asset = request.asset if request.HasField("asset") else None
            return wire.balance_to_pb(await self.core.balance_async(owner, asset))

        return await self._run("GetBalance", context, work)

    async def GetUsage(self, request: pb.GetUsageRequest, context: Any) -> pb.UsageReply:
        async def work() -> pb.UsageReply:
            owner = wire.owner_from_pb(request.owner_id)
            return wire.usage_to_pb(await self.core.usage_async(owner))

        return await self._run("GetUsage", context, work)

    async def GetReceipt(self, request: pb.GetReceiptRequest, context: Any) -> pb.Receipt:
        async def work() -> pb.Receipt:
            owner = wire.owner_from_pb(request.owner_id)
            payment = wire.payment_id_from_pb(request.payment_id)
            return wire.receipt_to_pb(await self.core.receipt_async(owner, payment))

        return await self._run("GetReceipt", context, work)

    async def ListReceipts(self, request: pb.ListReceiptsRequest, context: Any) -> pb.ReceiptPage:
        async def work() -> pb.ReceiptPage:
            owner = wire.owner_from_pb(request.owner_id)
            cursor = request.cursor if request.HasField("cursor") else None
            page = await self.core.receipts_async(owner, request.limit, cursor)
            return wire.page_to_pb(page)

        return await self._run("ListReceipts", context, work)


class AttestationServicer(pb_grpc.AttestationServicer):  # type: ignore[misc]
    def __init__(self, attestor: Attestor, metrics: TeeMetrics) -> None:
        self.attestor = attestor
        self.metrics = metrics

    async def GetAttestation(
        self, request: pb.AttestationRequest, context: Any
    ) -> pb.AttestationDocument:
        try:
            doc = await asyncio.to_thread(self.attestor.document, request.nonce)
        except NonceError as exc:
            self.metrics.attestation("bad_nonce")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception:
            self.metrics.attestation("error")
            log.exception("attestation.failed")
            await context.abort(grpc.StatusCode.UNAVAILABLE, "attestation report unavailable")
        self.metrics.attestation("ok")
        return wire.document_to_pb(doc)
