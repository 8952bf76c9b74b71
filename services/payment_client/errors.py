"""Why the payment core could not be asked at all (as opposed to a refusal)."""

from __future__ import annotations


class TeeUnavailable(Exception):
    """The TEE could not answer. `kind` is "unreachable" (no connection, no answer
    in time) or "fault" (it answered INTERNAL/UNKNOWN): both allow the fallback,
    which is safe because the idempotency key travels with the request."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class PaymentCoreUnavailable(Exception):
    """Neither the TEE nor (when allowed) the in-process core could serve: 503."""


class AttestationUnavailable(Exception):
    """No attestation to pass through (TEE mode off, or the TEE did not answer)."""
