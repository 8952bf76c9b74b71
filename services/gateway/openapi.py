"""OpenAPI helpers: every error response is documented as problem+json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_DESCRIPTIONS = {
    400: "Bad request (e.g. `idempotency_key_required`)",
    401: "`unauthorized`: missing or unknown credentials",
    402: "`insufficient_funds`",
    404: "`not_found` / `unknown_recipient`",
    409: "`idempotency_key_reused`, `agent_name_taken`, `account_exists`",
    422: "`validation_error`, `self_transfer`, `fee_exceeds_amount`, `unknown_tier`",
    429: "`tier_limit_reached` (with `current_count`, `limit`, `upgrade_url`)",
    503: "`payment_core_unavailable`",
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
