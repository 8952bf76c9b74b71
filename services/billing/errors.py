"""Billing's refusals, each with a stable `code` and HTTP status.

One handler (`install`) renders them as RFC 9457 problem+json through
services.common.problems; the payment core's own refusals (insufficient
funds, unknown holder, ...) keep the shared mapping there.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.problems import Problem, render


class BillingError(Exception):
    status = 400
    code = "billing_error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> Problem:
        problem = Problem(self.status, self.code, self.detail, **self.extra)
        if self.status == 503:
            problem.headers["Retry-After"] = "5"
        return problem


class NotFound(BillingError):
    status, code = 404, "not_found"


class UnknownTier(BillingError):
    status, code = 422, "unknown_tier"


class NotAnUpgrade(BillingError):
    status, code = 409, "not_an_upgrade"


class NotADowngrade(BillingError):
    status, code = 409, "not_a_downgrade"


class SubscriptionPastDue(BillingError):
    status, code = 409, "subscription_past_due"


class RenewalPending(BillingError):
    """A plan change while the next cycle's renewal charge has no recorded outcome."""

    status, code = 409, "renewal_pending"

    def problem(self) -> Problem:
        problem = super().problem()
        problem.headers["Retry-After"] = "60"  # the renewal sweep runs every minute
        return problem


class QuoteExpired(BillingError):
    status, code = 410, "quote_expired"


class QuoteMismatch(BillingError):
    status, code = 409, "quote_mismatch"


class IdempotencyKeyReused(BillingError):
    status, code = 409, "idempotency_key_reused"


class IdempotencyKeyRequired(BillingError):
    status, code = 400, "idempotency_key_required"


class RateUnavailableError(BillingError):
    """No rate fresh enough for money: nothing is quoted or charged."""

    status, code = 503, "rate_unavailable"


class NotInProduction(BillingError):
    status, code = 403, "not_in_production"


class InvalidRequest(BillingError):
    status, code = 422, "validation_error"


class UnknownChain(BillingError):
    status, code = 404, "unknown_chain"


class ChainDisabled(BillingError):
    status, code = 409, "chain_disabled"


class UnsupportedAsset(BillingError):
    """The chain's asset has no exchange rate in billing (no AssetSpec): it cannot be priced."""

    status, code = 422, "unsupported_asset"


class KeyServerUnavailable(BillingError):
    """The key server could not be reached or failed; a retry is safe (idempotent charge)."""

    status, code = 503, "key_server_unavailable"


class AgentBusy(BillingError):
    """Another billing workflow held the agent's lock past lock_timeout; nothing changed."""

    status, code = 503, "agent_busy"


class IntentAbandoned(QuoteExpired):
    """A crypto intent whose invoice was voided, or that waited past the quote's
    validity for the key server: never opened at a stale price."""


class KeyServerRefused(BillingError):
    """A definite refusal from the key server, passed through with its status and code."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.status = status
        self.code = code


class BadSignature(BillingError):
    """A charge callback not signed by the key server within the window."""

    status, code = 401, "bad_signature"


class EventConflict(BillingError):
    """A signed charge callback that contradicts what billing recorded for the charge."""

    status, code = 409, "event_conflict"


class PayloadTooLarge(BillingError):
    status, code = 413, "payload_too_large"


def install(app: FastAPI) -> None:
    async def on_billing_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BillingError)
        return render(exc.problem(), request)

    app.add_exception_handler(BillingError, on_billing_error)
