"""OpenAPI helpers: every error response is documented as problem+json."""

from __future__ import annotations

from services.common.openapi import problem_responses_for

_DESCRIPTIONS = {
    400: "`idempotency_key_required`",
    401: "`unauthorized`: missing or wrong bearer token; `bad_signature` (charge callbacks)",
    402: "`insufficient_funds` (nothing changed)",
    403: "`not_in_production`",
    404: "`not_found` (no such agent in the payment core, quote, endpoint, delivery, "
    "charge), `unknown_chain`",
    409: "`not_an_upgrade`, `not_a_downgrade`, `quote_mismatch`, `idempotency_key_reused`, "
    "`subscription_past_due`, `chain_disabled`, `event_conflict`",
    410: "`quote_expired` (expired, used, or superseded: ask for a new quote)",
    413: "`payload_too_large`",
    422: "`validation_error`, `unknown_tier`, `unsupported_asset`",
    503: "`rate_unavailable`, `payment_core_unavailable`, `key_server_unavailable`, `agent_busy` "
    "(nothing charged)",
}


problem_responses = problem_responses_for(_DESCRIPTIONS)
