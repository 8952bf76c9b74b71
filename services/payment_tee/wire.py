"""The payment core's values on the wire: protobuf messages <-> core records.

Shared by the gRPC server (in the Confidential VM) and the gateway's gRPC
client, so both sides agree field for field. A receipt crosses unchanged:
every field the signature covers is carried as is.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any

import grpc

from services.common.clock import parse_rfc3339, rfc3339
from services.payment_tee.core import errors
from services.payment_tee.core.commands import (
    CancelChargeCommand,
    ChargeCommand,
    CreditCommand,
    RefundCommand,
    TransferCommand,
    TransferKind,
)
from services.payment_tee.core.history import ReceiptPage
from services.payment_tee.core.ledger import ChargeCancellation, PostingResult
from services.payment_tee.core.receipts import Receipt
from services.payment_tee.core.records import AccountBalance, AccountRef, Balance, Holder, Usage
from services.payment_tee.core.tiers import Tier, parse_tier
from services.protos.sealpay.payments.v1 import payments_pb2 as pb

ERROR_CODE_KEY = "sealpay-error-code"
ERROR_DETAILS_KEY = "sealpay-error-details"

_KINDS = {
    TransferKind.HUB_ROUTING: pb.TRANSFER_KIND_HUB_ROUTING,
    TransferKind.INTERNAL: pb.TRANSFER_KIND_INTERNAL,
}
_KINDS_BACK = {v: k for k, v in _KINDS.items()}

# Business refusals by code -> gRPC status. Anything else is a fault.
_STATUS_BY_CODE = {
    "validation_error": grpc.StatusCode.INVALID_ARGUMENT,
    "invalid_amount": grpc.StatusCode.INVALID_ARGUMENT,
    "self_transfer": grpc.StatusCode.INVALID_ARGUMENT,
    "asset_mismatch": grpc.StatusCode.INVALID_ARGUMENT,
    "fee_exceeds_amount": grpc.StatusCode.INVALID_ARGUMENT,
    "unknown_tier": grpc.StatusCode.INVALID_ARGUMENT,
    "insufficient_funds": grpc.StatusCode.FAILED_PRECONDITION,
    "tier_limit_reached": grpc.StatusCode.FAILED_PRECONDITION,
    "refund_exceeds_charge": grpc.StatusCode.FAILED_PRECONDITION,
    "charge_cancelled": grpc.StatusCode.FAILED_PRECONDITION,
    "idempotency_key_reused": grpc.StatusCode.ALREADY_EXISTS,
    "account_exists": grpc.StatusCode.ALREADY_EXISTS,
    "unknown_account": grpc.StatusCode.NOT_FOUND,
    "unknown_holder": grpc.StatusCode.NOT_FOUND,
    "not_found": grpc.StatusCode.NOT_FOUND,
}


def _error_classes() -> dict[str, type[errors.PaymentError]]:
    found: dict[str, type[errors.PaymentError]] = {}
    pending: list[type[errors.PaymentError]] = [errors.PaymentError]
    while pending:
        cls = pending.pop()
        found[cls.code] = cls
        pending.extend(cls.__subclasses__())
    return found


_ERROR_CLASSES = _error_classes()


# --- refusals ----------------------------------------------------------------------


def status_for(error: errors.PaymentError) -> grpc.StatusCode:
    return _STATUS_BY_CODE.get(error.code, grpc.StatusCode.FAILED_PRECONDITION)


def error_metadata(error: errors.PaymentError) -> tuple[tuple[str, str], ...]:
    return (
        (ERROR_CODE_KEY, error.code),
        (ERROR_DETAILS_KEY, json.dumps(error.details, default=str)),
    )


def error_from_status(
    code: str | None, message: str, details_json: str | None
) -> errors.PaymentError | None:
    """The core's own exception back from a refusal's trailers (None: not a refusal)."""
    if not code or code not in _ERROR_CLASSES:
        return None
    details: dict[str, Any] = json.loads(details_json) if details_json else {}
    return _ERROR_CLASSES[code](message, **details)


# --- commands --------------------------------------------------------------------------


def account_to_pb(ref: AccountRef) -> pb.AccountRef:
    return pb.AccountRef(owner_id=str(ref.owner_id), name=ref.name, asset=ref.asset)


def account_from_pb(msg: pb.AccountRef) -> AccountRef:
    return AccountRef(_uuid(msg.owner_id, "owner_id"), msg.name, msg.asset)


def transfer_to_pb(cmd: TransferCommand) -> pb.TransferRequest:
    return pb.TransferRequest(
        kind=_KINDS[cmd.kind],
        payer=account_to_pb(cmd.payer),
        payee=account_to_pb(cmd.payee),
        amount=cmd.amount,
        idempotency_key=cmd.idempotency_key,
        memo=cmd.memo,
    )


def transfer_from_pb(msg: pb.TransferRequest) -> TransferCommand:
    if msg.kind not in _KINDS_BACK:
        raise errors.InvalidRequest("transfer kind is required", field="kind")
    return TransferCommand(
        kind=_KINDS_BACK[msg.kind],
        payer=account_from_pb(msg.payer),
        payee=account_from_pb(msg.payee),
        amount=msg.amount,
        idempotency_key=msg.idempotency_key,
        memo=msg.memo if msg.HasField("memo") else None,
    )


def credit_to_pb(cmd: CreditCommand) -> pb.CreditRequest:
    return pb.CreditRequest(
        account=account_to_pb(cmd.account),
        amount=cmd.amount,
        idempotency_key=cmd.idempotency_key,
        source=cmd.source,
        scope=cmd.scope,
        actor=cmd.actor,
        memo=cmd.memo,
    )


def credit_from_pb(msg: pb.CreditRequest) -> CreditCommand:
    return CreditCommand(
        account=account_from_pb(msg.account),
        amount=msg.amount,
        idempotency_key=msg.idempotency_key,
        source=msg.source,
        scope=msg.scope,
        actor=msg.actor,
        memo=msg.memo if msg.HasField("memo") else None,
    )


def charge_to_pb(cmd: ChargeCommand) -> pb.ChargeRequest:
    return pb.ChargeRequest(
        account=account_to_pb(cmd.account),
        amount=cmd.amount,
        idempotency_key=cmd.idempotency_key,
        purpose=cmd.purpose,
        scope=cmd.scope,
        actor=cmd.actor,
        memo=cmd.memo,
    )


def charge_from_pb(msg: pb.ChargeRequest) -> ChargeCommand:
    return ChargeCommand(
        account=account_from_pb(msg.account),
        amount=msg.amount,
        idempotency_key=msg.idempotency_key,
        purpose=msg.purpose,
        scope=msg.scope,
        actor=msg.actor,
        memo=msg.memo if msg.HasField("memo") else None,
    )


def refund_to_pb(cmd: RefundCommand) -> pb.RefundRequest:
    return pb.RefundRequest(
        charge_id=str(cmd.charge_id),
        amount=cmd.amount,
        idempotency_key=cmd.idempotency_key,
        scope=cmd.scope,
        actor=cmd.actor,
        memo=cmd.memo,
    )


def refund_from_pb(msg: pb.RefundRequest) -> RefundCommand:
    return RefundCommand(
        charge_id=_uuid(msg.charge_id, "charge_id"),
        amount=msg.amount,
        idempotency_key=msg.idempotency_key,
        scope=msg.scope,
        actor=msg.actor,
        memo=msg.memo if msg.HasField("memo") else None,
    )


def cancel_charge_to_pb(cmd: CancelChargeCommand) -> pb.CancelChargeRequest:
    return pb.CancelChargeRequest(
        account=account_to_pb(cmd.account),
        idempotency_key=cmd.idempotency_key,
        scope=cmd.scope,
        actor=cmd.actor,
    )


def cancel_charge_from_pb(msg: pb.CancelChargeRequest) -> CancelChargeCommand:
    return CancelChargeCommand(
        account=account_from_pb(msg.account),
        idempotency_key=msg.idempotency_key,
        scope=msg.scope,
        actor=msg.actor,
    )


def tier_from_pb(label: str) -> Tier:
    return parse_tier(label)


def owner_from_pb(value: str) -> uuid.UUID:
    return _uuid(value, "owner_id")


def payment_id_from_pb(value: str) -> uuid.UUID:
    return _uuid(value, "payment_id")


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.InvalidRequest(f"{field} must be a UUID", field=field) from None


# --- results ---------------------------------------------------------------------------


def receipt_to_pb(r: Receipt) -> pb.Receipt:
    return pb.Receipt(
        payment_id=r.payment_id,
        kind=r.kind,
        from_=r.from_,
        to=r.to,
        from_account=r.from_account,
        to_account=r.to_account,
        asset=r.asset,
        amount=r.amount,
        fee=r.fee,
        fee_bps=r.fee_bps,
        net=r.net,
        memo=r.memo,
        status=r.status,
        created_at=r.created_at,
        signer=r.signer,
        signing_key=r.signing_key,
        signature=r.signature,
        idempotency_key_sha256=r.idempotency_key_sha256,
    )


def receipt_from_pb(m: pb.Receipt) -> Receipt:
    return Receipt(
        payment_id=m.payment_id,
        kind=m.kind,
        from_=m.from_,
        to=m.to,
        from_account=m.from_account,
        to_account=m.to_account,
        asset=m.asset,
        amount=m.amount,
        fee=m.fee,
        fee_bps=m.fee_bps,
        net=m.net,
        memo=m.memo if m.HasField("memo") else None,
        status=m.status,
        created_at=m.created_at,
        signer=m.signer,
        signing_key=m.signing_key,
        signature=m.signature,
        idempotency_key_sha256=(
            m.idempotency_key_sha256 if m.HasField("idempotency_key_sha256") else None
        ),
    )


def posting_to_pb(result: PostingResult) -> pb.PostingReply:
    return pb.PostingReply(receipt=receipt_to_pb(result.receipt), replayed=result.replayed)


def posting_from_pb(msg: pb.PostingReply) -> PostingResult:
    return PostingResult(receipt_from_pb(msg.receipt), replayed=msg.replayed)


def cancellation_to_pb(c: ChargeCancellation) -> pb.CancelChargeReply:
    receipt = receipt_to_pb(c.receipt) if c.receipt is not None else None
    return pb.CancelChargeReply(cancelled=c.cancelled, receipt=receipt)


def cancellation_from_pb(m: pb.CancelChargeReply) -> ChargeCancellation:
    if m.cancelled == m.HasField("receipt"):
        # Either answer alone is meaningful; both or neither is a broken server.
        raise ValueError("a CancelCharge reply must carry a receipt exactly when not cancelled")
    return ChargeCancellation(
        cancelled=m.cancelled, receipt=receipt_from_pb(m.receipt) if not m.cancelled else None
    )


def holder_to_pb(h: Holder) -> pb.HolderReply:
    return pb.HolderReply(
        owner_id=str(h.owner_id), tier=h.tier.value, created_at=rfc3339(h.created_at)
    )


def holder_from_pb(m: pb.HolderReply) -> Holder:
    return Holder(uuid.UUID(m.owner_id), Tier(m.tier), parse_rfc3339(m.created_at))


def account_balance_to_pb(a: AccountBalance) -> pb.AccountBalance:
    return pb.AccountBalance(name=a.name, asset=a.asset, available=a.available)


def account_balance_from_pb(m: pb.AccountBalance) -> AccountBalance:
    return AccountBalance(m.name, m.asset, m.available)


def balance_to_pb(b: Balance) -> pb.BalanceReply:
    return pb.BalanceReply(
        owner_id=str(b.owner_id),
        asset=b.asset,
        available=b.available,
        pending=b.pending,
        accounts=[account_balance_to_pb(a) for a in b.accounts],
    )


def balance_from_pb(m: pb.BalanceReply) -> Balance:
    return Balance(
        uuid.UUID(m.owner_id),
        m.asset,
        m.available,
        m.pending,
        tuple(account_balance_from_pb(a) for a in m.accounts),
    )


def usage_to_pb(u: Usage) -> pb.UsageReply:
    return pb.UsageReply(
        owner_id=str(u.owner_id),
        tier=u.tier.value,
        month=u.month,
        transfers=u.transfers,
        limit=u.limit,
    )


def usage_from_pb(m: pb.UsageReply) -> Usage:
    return Usage(
        uuid.UUID(m.owner_id),
        Tier(m.tier),
        m.month,
        m.transfers,
        m.limit if m.HasField("limit") else None,
    )


def page_to_pb(p: ReceiptPage) -> pb.ReceiptPage:
    return pb.ReceiptPage(
        receipts=[receipt_to_pb(r) for r in p.receipts], next_cursor=p.next_cursor
    )


def page_from_pb(m: pb.ReceiptPage) -> ReceiptPage:
    return ReceiptPage(
        tuple(receipt_from_pb(r) for r in m.receipts),
        m.next_cursor if m.HasField("next_cursor") else None,
    )


def document_to_pb(doc: Mapping[str, Any]) -> pb.AttestationDocument:
    return pb.AttestationDocument(
        mode=doc["mode"],
        report=base64.b64decode(doc["report"]),
        vcek_pem=doc["certs"]["vcek"],
        ask_pem=doc["certs"]["ask"],
        ark_pem=doc["certs"]["ark"],
        tls_certificate_pem=doc["tls_certificate"],
        receipt_public_key=base64.b64decode(doc["receipt_public_key"]),
        nonce=bytes(doc["nonce"])
        if isinstance(doc["nonce"], bytes)
        else bytes.fromhex(doc["nonce"]),
    )


def document_from_pb(msg: pb.AttestationDocument) -> dict[str, Any]:
    """The JSON attestation document (DESIGN.md, Contracts) from its protobuf form."""
    return {
        "mode": msg.mode,
        "report": base64.b64encode(msg.report).decode(),
        "certs": {"vcek": msg.vcek_pem, "ask": msg.ask_pem, "ark": msg.ark_pem},
        "tls_certificate": msg.tls_certificate_pem,
        "receipt_public_key": base64.b64encode(msg.receipt_public_key).decode(),
        "nonce": msg.nonce.hex(),
    }
