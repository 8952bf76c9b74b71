"""OpenAPI helpers: every error response is documented as problem+json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_DESCRIPTIONS = {
    400: "`idempotency_key_required`",
    401: "`unauthorized`: missing or wrong bearer token",
    402: "`insufficient_funds` (nothing changed)",
    403: "`not_in_production`",
    404: "`not_found` (no such agent in the payment core, quote, endpoint, delivery)",
    409: "`not_an_upgrade`, `not_a_downgrade`, `quote_mismatch`, `idempotency_key_reused`, "
    "`subscription_past_due`",
    410: "`quote_expired` (expired, used, or superseded: ask for a new quote)",
    422: "`validation_error`, `unknown_tier`",
    503: "`rate_unavailable`, `payment_core_unavailable` (nothing charged)",
}


class ProblemDetails(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": ProblemDetails,
            "description": _DESCRIPTIONS.get(status, "error"),
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }
