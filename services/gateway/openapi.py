"""OpenAPI helpers: every error response is documented as problem+json."""

from __future__ import annotations

from services.common.openapi import problem_responses_for

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


problem_responses = problem_responses_for(_DESCRIPTIONS)
