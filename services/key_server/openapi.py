"""OpenAPI helpers: every error response is documented as problem+json."""

from __future__ import annotations

from services.common.openapi import problem_responses_for

_DESCRIPTIONS = {
    401: "`unauthorized` (token) or `bad_signature` (signed events)",
    404: "`not_found`, `unknown_chain`",
    413: "`payload_too_large` (chain events over 16 KiB)",
    409: "`chain_exists`, `key_already_registered`, `chain_disabled`, `chain_exhausted`, "
    "`event_conflict`, `idempotency_key_reused`",
    422: "`validation_error` or a key refusal: `invalid_extended_key`, `private_key_refused`, "
    "`network_mismatch`, `unsupported_chain`, `invalid_monero_key`, `invalid_address`",
}


problem_responses = problem_responses_for(_DESCRIPTIONS)
