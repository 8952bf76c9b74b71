"""Receipts: what a caller gets back for every posting, signed by whoever posted it.

`signature` = base64 Ed25519 over the RFC 8785 canonical JSON of the receipt
object without its `signature` field (DESIGN.md, Contracts). `signer` says who
signed: "tee" inside the Confidential VM, "gateway" for the in-process core.
The signature is stored with the entry, so a replay returns the original
receipt byte for byte, whichever path serves the replay.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.payment_tee.core.canonical import canonical_json

Signer = Literal["tee", "gateway"]

STATUS_POSTED = "posted"


@dataclass(frozen=True)
class Receipt:
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
    signer: str = ""
    signing_key: str = ""
    signature: str = ""
    # Hex SHA-256 of the request's idempotency key: binds the receipt to the
    # request it answers. None only on receipts signed before the field existed,
    # which are kept (and verify) exactly as they were signed.
    idempotency_key_sha256: str | None = None

    def unsigned_payload(self) -> dict[str, Any]:
        """The object the signature covers: the wire receipt minus `signature`."""
        payload = {
            "payment_id": self.payment_id,
            "kind": self.kind,
            "from": self.from_,
            "to": self.to,
            "from_account": self.from_account,
            "to_account": self.to_account,
            "asset": self.asset,
            "amount": self.amount,
            "fee": self.fee,
            "fee_bps": self.fee_bps,
            "net": self.net,
            "memo": self.memo,
            "status": self.status,
            "created_at": self.created_at,
            "signer": self.signer,
            "signing_key": self.signing_key,
        }
        if self.idempotency_key_sha256 is not None:
            payload["idempotency_key_sha256"] = self.idempotency_key_sha256
        return payload

    def to_wire(self) -> dict[str, Any]:
        return {**self.unsigned_payload(), "signature": self.signature}


def idempotency_key_digest(key: str) -> str:
    """What a receipt carries of its request's idempotency key (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()


class ReceiptSigner:
    """An Ed25519 key generated in memory at boot; never written anywhere."""

    def __init__(self, signer: Signer, private_key: Ed25519PrivateKey | None = None) -> None:
        self.signer = signer
        self._key = private_key or Ed25519PrivateKey.generate()
        self.public_key_raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(self.public_key_raw).decode()

    def sign(self, receipt: Receipt) -> Receipt:
        payload = receipt.unsigned_payload()
        payload["signer"], payload["signing_key"] = self.signer, self.public_key_b64
        signature = base64.b64encode(self._key.sign(canonical_json(payload))).decode()
        return replace(
            receipt, signer=self.signer, signing_key=self.public_key_b64, signature=signature
        )


def verify_receipt(wire: dict[str, Any], public_key_raw: bytes | None = None) -> bool:
    """True when `wire` carries a valid signature (by `public_key_raw` if given)."""
    try:
        key_raw = base64.b64decode(wire["signing_key"], validate=True)
        if public_key_raw is not None and key_raw != public_key_raw:
            return False
        unsigned = {k: v for k, v in wire.items() if k != "signature"}
        Ed25519PublicKey.from_public_bytes(key_raw).verify(
            base64.b64decode(wire["signature"], validate=True), canonical_json(unsigned)
        )
    except Exception:  # any malformed field is simply "not verified"
        return False
    return True
