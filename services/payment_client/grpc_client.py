"""The payment TEE over gRPC with mutual TLS: the same calls as PaymentCore.

Refusals come back as the core's own exceptions (rebuilt from the
`sealpay-error-code` trailers), so the gateway's HTTP mapping is identical on
both paths. Faults become `TeeUnavailable`, which the switching dispatcher may
answer with the in-process fallback.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.errors import ConfigError
from services.payment_client.errors import TeeUnavailable
from services.payment_tee import wire
from services.payment_tee.core.commands import (
    CancelChargeCommand,
    ChargeCommand,
    CreditCommand,
    RefundCommand,
    TransferCommand,
)
from services.payment_tee.core.history import ReceiptPage
from services.payment_tee.core.ledger import ChargeCancellation, PostingResult
from services.payment_tee.core.receipts import Receipt
from services.payment_tee.core.records import AccountBalance, Balance, Holder, Usage
from services.payment_tee.core.tiers import Tier
from services.protos.sealpay.payments.v1 import payments_pb2 as pb
from services.protos.sealpay.payments.v1 import payments_pb2_grpc as pb_grpc

_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_FAULT = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def client_credentials(
    ca: Path | None, cert: Path | None, key: Path | None
) -> grpc.ChannelCredentials:
    if ca is None or cert is None or key is None:
        raise ConfigError(
            "PAYMENT_VIA_TEE needs PAYMENT_TEE_CA, PAYMENT_TEE_CLIENT_CERT and "
            "PAYMENT_TEE_CLIENT_KEY"
        )
    for name, path in (
        ("PAYMENT_TEE_CA", ca),
        ("PAYMENT_TEE_CLIENT_CERT", cert),
        ("PAYMENT_TEE_CLIENT_KEY", key),
    ):
        if not path.is_file():
            raise ConfigError(f"{name}: no such file {path}")
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )


class GrpcDispatcher:
    def __init__(
        self,
        target: str,
        credentials: grpc.ChannelCredentials,
        *,
        server_name: str,
        timeout: float,
        default_asset: str,
    ) -> None:
        self.target = target
        self.server_name = server_name
        self.timeout = timeout
        self.default_asset = default_asset
        self._credentials = credentials
        self._channel: grpc.aio.Channel | None = None

    def _open(self) -> grpc.aio.Channel:
        """The channel, created on first use: grpc.aio binds it to the running loop."""
        if self._channel is None:
            self._channel = grpc.aio.secure_channel(
                self.target,
                self._credentials,
                options=[
                    ("grpc.ssl_target_name_override", self.server_name),
                    ("grpc.default_authority", self.server_name),
                    ("grpc.keepalive_time_ms", 30_000),
                ],
            )
            self.payments = pb_grpc.PaymentsStub(self._channel)
            self.attestation = pb_grpc.AttestationStub(self._channel)
            self.health = health_pb2_grpc.HealthStub(self._channel)
        return self._channel

    async def _rpc(self, stub: str, name: str, request: Any) -> Any:
        self._open()
        method = getattr(getattr(self, stub), name)
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from None

    # --- money movement ---------------------------------------------------------------

    async def transfer(self, cmd: TransferCommand) -> PostingResult:
        reply = await self._rpc("payments", "Transfer", wire.transfer_to_pb(cmd))
        return wire.posting_from_pb(reply)

    async def credit(self, cmd: CreditCommand) -> PostingResult:
        reply = await self._rpc("payments", "Credit", wire.credit_to_pb(cmd))
        return wire.posting_from_pb(reply)

    async def charge(self, cmd: ChargeCommand) -> PostingResult:
        reply = await self._rpc("payments", "Charge", wire.charge_to_pb(cmd))
        return wire.posting_from_pb(reply)

    async def cancel_charge(self, cmd: CancelChargeCommand) -> ChargeCancellation:
        reply = await self._rpc("payments", "CancelCharge", wire.cancel_charge_to_pb(cmd))
        return wire.cancellation_from_pb(reply)

    async def refund(self, cmd: RefundCommand) -> PostingResult:
        reply = await self._rpc("payments", "Refund", wire.refund_to_pb(cmd))
        return wire.posting_from_pb(reply)

    async def set_tier(self, owner_id: uuid.UUID, tier: Tier, actor: str) -> Holder:
        request = pb.SetTierRequest(owner_id=str(owner_id), tier=tier.value, actor=actor)
        return wire.holder_from_pb(await self._rpc("payments", "SetTier", request))

    # --- holders, accounts, reads -------------------------------------------------------

    async def register_holder(self, owner_id: uuid.UUID) -> Holder:
        request = pb.RegisterHolderRequest(owner_id=str(owner_id))
        return wire.holder_from_pb(await self._rpc("payments", "RegisterHolder", request))

    async def open_account(
        self, owner_id: uuid.UUID, name: str, asset: str | None = None
    ) -> AccountBalance:
        request = pb.OpenAccountRequest(owner_id=str(owner_id), name=name, asset=asset)
        return wire.account_balance_from_pb(await self._rpc("payments", "OpenAccount", request))

    async def balance(self, owner_id: uuid.UUID, asset: str | None = None) -> Balance:
        request = pb.GetBalanceRequest(owner_id=str(owner_id), asset=asset)
        return wire.balance_from_pb(await self._rpc("payments", "GetBalance", request))

    async def usage(self, owner_id: uuid.UUID) -> Usage:
        request = pb.GetUsageRequest(owner_id=str(owner_id))
        return wire.usage_from_pb(await self._rpc("payments", "GetUsage", request))

    async def receipt(self, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Receipt:
        request = pb.GetReceiptRequest(owner_id=str(owner_id), payment_id=str(payment_id))
        return wire.receipt_from_pb(await self._rpc("payments", "GetReceipt", request))

    async def receipts(self, owner_id: uuid.UUID, limit: int, cursor: str | None) -> ReceiptPage:
        request = pb.ListReceiptsRequest(owner_id=str(owner_id), limit=limit, cursor=cursor)
        return wire.page_from_pb(await self._rpc("payments", "ListReceipts", request))

    # --- attestation and health ----------------------------------------------------------

    async def attestation_document(self, nonce: bytes) -> dict[str, Any]:
        reply = await self._rpc("attestation", "GetAttestation", pb.AttestationRequest(nonce=nonce))
        return wire.document_from_pb(reply)

    async def serving(self, timeout: float = 2.0) -> bool:
        self._open()
        try:
            reply = await self.health.Check(
                health_pb2.HealthCheckRequest(service="sealpay.payments.v1.Payments"),
                timeout=timeout,
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def _translate(exc: grpc.aio.AioRpcError) -> Exception:
    trailers = dict(exc.trailing_metadata() or ())
    refusal = wire.error_from_status(
        _text(trailers.get(wire.ERROR_CODE_KEY)),
        exc.details() or "",
        _text(trailers.get(wire.ERROR_DETAILS_KEY)),
    )
    if refusal is not None:
        return refusal
    code = exc.code()
    if code in _UNREACHABLE:
        return TeeUnavailable("unreachable", f"{code.name}: {exc.details()}")
    if code in _FAULT:
        return TeeUnavailable("fault", f"{code.name}: {exc.details()}")
    # UNAUTHENTICATED, PERMISSION_DENIED, a refusal without our trailers...: a
    # misconfiguration, not something another path should paper over.
    return RuntimeError(f"payment TEE answered {code.name}: {exc.details()}")


def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return value
