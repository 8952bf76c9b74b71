"""Sealpay Python SDK: the gateway client, receipt verification and SEV-SNP attestation.

    from sealpay import SealpayClient

This module stays import-light: names are loaded on first access (PEP 562),
so ``import sealpay.attestation`` inside the payment core, whose import guard
forbids httpx, does not drag in the HTTP client. Only ``SealpayClient``
imports httpx.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sealpay.client import SealpayClient
    from sealpay.errors import (
        ApiError,
        Conflict,
        ConnectionFailed,
        IdempotencyKeyReused,
        InsufficientFunds,
        InvalidRequest,
        NotFound,
        PaymentCoreUnavailable,
        ReceiptMismatchError,
        ReceiptSignatureError,
        SealpayError,
        ServerError,
        TEEVerificationError,
        TierLimitReached,
        Unauthorized,
        UnexpectedResponseError,
        UnknownRecipient,
    )
    from sealpay.models import (
        AccountBalance,
        AgentInfo,
        Balance,
        IssuedApiKey,
        ReceiptPage,
        Registration,
        TierChange,
    )
    from sealpay.receipts import Receipt, verify_receipt

__all__ = [
    "AccountBalance",
    "AgentInfo",
    "ApiError",
    "Balance",
    "Conflict",
    "ConnectionFailed",
    "IdempotencyKeyReused",
    "InsufficientFunds",
    "InvalidRequest",
    "IssuedApiKey",
    "NotFound",
    "PaymentCoreUnavailable",
    "Receipt",
    "ReceiptMismatchError",
    "ReceiptPage",
    "ReceiptSignatureError",
    "Registration",
    "SealpayClient",
    "SealpayError",
    "ServerError",
    "TEEVerificationError",
    "TierChange",
    "TierLimitReached",
    "Unauthorized",
    "UnexpectedResponseError",
    "UnknownRecipient",
    "verify_receipt",
]

_EXPORTS: dict[str, str] = {
    "AccountBalance": "sealpay.models",
    "AgentInfo": "sealpay.models",
    "ApiError": "sealpay.errors",
    "Balance": "sealpay.models",
    "Conflict": "sealpay.errors",
    "ConnectionFailed": "sealpay.errors",
    "IdempotencyKeyReused": "sealpay.errors",
    "InsufficientFunds": "sealpay.errors",
    "InvalidRequest": "sealpay.errors",
    "NotFound": "sealpay.errors",
    "PaymentCoreUnavailable": "sealpay.errors",
    "Receipt": "sealpay.receipts",
    "ReceiptMismatchError": "sealpay.errors",
    "IssuedApiKey": "sealpay.models",
    "ReceiptPage": "sealpay.models",
    "ReceiptSignatureError": "sealpay.errors",
    "Registration": "sealpay.models",
    "SealpayClient": "sealpay.client",
    "SealpayError": "sealpay.errors",
    "ServerError": "sealpay.errors",
    "TEEVerificationError": "sealpay.errors",
    "TierChange": "sealpay.models",
    "TierLimitReached": "sealpay.errors",
    "Unauthorized": "sealpay.errors",
    "UnexpectedResponseError": "sealpay.errors",
    "UnknownRecipient": "sealpay.errors",
    "verify_receipt": "sealpay.receipts",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sealpay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    submodules = [
        name
        for name, value in globals().items()
        if isinstance(value, ModuleType) and value.__name__.startswith("sealpay.")
    ]
    return sorted({*__all__, *submodules})
