"""The payment core's refusals, each with a stable `code`.

Adapters map them: the gateway to RFC 9457 problem+json, the gRPC server to a
status code plus the `sealpay-error-code` trailer. `details` carries the extra
fields a caller needs to act (e.g. the current count for a tier limit).
"""

from __future__ import annotations

from typing import Any


class PaymentError(Exception):
    code = "payment_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(PaymentError):
    code = "validation_error"


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"


class SelfTransfer(PaymentError):
    code = "self_transfer"


class UnknownAccount(PaymentError):
    """`details["side"]` is "payer" or "payee" so the gateway can say which."""

    code = "unknown_account"


class UnknownHolder(PaymentError):
    code = "unknown_holder"


class AccountExists(PaymentError):
    code = "account_exists"


class AssetMismatch(PaymentError):
    code = "asset_mismatch"


class InsufficientFunds(PaymentError):
    code = "insufficient_funds"


class FeeExceedsAmount(PaymentError):
    code = "fee_exceeds_amount"


class TierLimitReached(PaymentError):
    code = "tier_limit_reached"


class UnknownTier(PaymentError):
    code = "unknown_tier"


class IdempotencyKeyReused(PaymentError):
    code = "idempotency_key_reused"


class ReceiptNotFound(PaymentError):
    code = "not_found"


class RefundExceedsCharge(PaymentError):
    code = "refund_exceeds_charge"


class ChargeCancelled(PaymentError):
    """A charge under an idempotency key its caller cancelled (CancelCharge)."""

    code = "charge_cancelled"
