"""Signed receipts: the typed :class:`Receipt` and the signature check every receipt passes.

A receipt's ``signature`` is base64 Ed25519 over the RFC 8785 (JCS) canonical
JSON of the receipt object *as received*, minus ``signature``; ``signing_key``
is the base64 raw public key and ``signer`` says who holds it (``tee`` for the
confidential payment core, ``gateway`` for its in-process fallback).

The signature alone proves that the receipt was not altered after the holder
of ``signing_key`` signed it; it does not say who that holder is, since the
key travels inside the receipt. Knowing the key belongs to an attested
payment core is what ``SealpayClient(verify_tee=True)`` adds.

The whole received object is canonicalised, not a re-serialisation of the
fields this SDK knows, so a receipt that gains a member still verifies with
this version, and no member can be slipped in unsigned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sealpay.errors import ReceiptSignatureError, UnexpectedResponseError

SIGNER_TEE: Final = "tee"
SIGNER_GATEWAY: Final = "gateway"
_PUBLIC_KEY_SIZE: Final = 32
_SIGNATURE_SIZE: Final = 64

_STR_FIELDS: Final = (
    "payment_id",
    "kind",
    "from",
    "to",
    "from_account",
    "to_account",
    "asset",
    "status",
    "created_at",
    "signer",
    "signing_key",
    "signature",
)
_INT_FIELDS: Final = ("amount", "fee", "fee_bps", "net")


@dataclass(frozen=True)
class Receipt:
    """A posting's receipt, signature already verified. Money fields are integer minor units.

    ``from_`` and ``to`` are the wire's ``from`` and ``to`` (agent ids, or a
    platform source such as ``credits:manual``). ``replayed`` is true when
    the gateway answered an idempotent replay (``Idempotent-Replayed: true``)
    and is not part of the receipt's identity: a replay compares equal to the
    original. ``wire`` is the exact signed object, for storage and for
    re-checking later with :func:`verify_receipt`.
    """

    payment_id: str
    kind: str
    from_: str
    to: str
    from_account: str
    to_account: str
    asset: str
    amount: int
    fee: int
    fee_bps: int
    net: int
    memo: str | None
    status: str
    created_at: str
    signer: str
    signing_key: str
    signature: str
    idempotency_key_sha256: str | None = None
    replayed: bool = field(default=False, compare=False)
    wire: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    @property
    def created(self) -> datetime:
        """``created_at`` as a timezone-aware datetime."""
        return datetime.fromisoformat(self.created_at)

    @property
    def signing_key_raw(self) -> bytes:
        """The raw 32-byte Ed25519 public key the signature verified with."""
        return base64.b64decode(self.signing_key)


def verify_receipt(
    data: Mapping[str, Any], *, replayed: bool = False, idempotency_key: str | None = None
) -> Receipt:
    """Check ``data``'s signature, then read it into a :class:`Receipt`.

    Raises :class:`ReceiptSignatureError` when the signature is missing,
    malformed or does not verify, and :class:`UnexpectedResponseError` when
    a correctly signed object is not shaped like a receipt.
    """
    signed = {name: value for name, value in data.items() if name != "signature"}
    public_key = _decode(data, "signing_key", _PUBLIC_KEY_SIZE, idempotency_key)
    signature = _decode(data, "signature", _SIGNATURE_SIZE, idempotency_key)
    try:
        message = rfc8785.dumps(signed)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (rfc8785.CanonicalizationError, InvalidSignature, ValueError) as exc:
        raise ReceiptSignatureError(
            "receipt signature does not verify: the receipt was altered or forged",
            receipt_data=data,
            idempotency_key=idempotency_key,
        ) from exc
    return _parse(data, replayed=replayed, idempotency_key=idempotency_key)


def _decode(data: Mapping[str, Any], name: str, size: int, idempotency_key: str | None) -> bytes:
    value = data.get(name)
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except binascii.Error:
        raw = b""
    if len(raw) != size:
        raise ReceiptSignatureError(
            f"receipt {name} is missing or is not {size} bytes of base64",
            receipt_data=data,
            idempotency_key=idempotency_key,
        )
    return raw


def _parse(data: Mapping[str, Any], *, replayed: bool, idempotency_key: str | None) -> Receipt:
    bad = [name for name in _STR_FIELDS if not isinstance(data.get(name), str)]
    bad += [name for name in _INT_FIELDS if not _is_int(data.get(name))]
    memo = data.get("memo")
    if memo is not None and not isinstance(memo, str):
        bad.append("memo")
    key_digest = data.get("idempotency_key_sha256")
    if key_digest is not None and not _is_sha256_hex(key_digest):
        bad.append("idempotency_key_sha256")
    if bad:
        raise UnexpectedResponseError(
            f"signed receipt has missing or mistyped members: {', '.join(bad)}",
            status=None,
            idempotency_key=idempotency_key,
        )
    return Receipt(
        payment_id=data["payment_id"],
        kind=data["kind"],
        from_=data["from"],
        to=data["to"],
        from_account=data["from_account"],
        to_account=data["to_account"],
        asset=data["asset"],
        amount=data["amount"],
        fee=data["fee"],
        fee_bps=data["fee_bps"],
        net=data["net"],
        memo=memo,
        status=data["status"],
        created_at=data["created_at"],
        signer=data["signer"],
        signing_key=data["signing_key"],
        signature=data["signature"],
        idempotency_key_sha256=key_digest,
        replayed=replayed,
        wire=MappingProxyType(dict(data)),
    )


def idempotency_key_digest(key: str) -> str:
    """What a receipt carries of the idempotency key it was posted under (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _is_sha256_hex(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
