"""The `Idempotency-Key` request header, as FastAPI dependencies.

Each HTTP service renders errors its own way (the gateway as `Problem`,
billing as `BillingError`), so it passes the exception to raise; the rule
itself lives in one place (`services.common.ids`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header

from services.common.ids import IDEMPOTENCY_KEY_RULE, is_idempotency_key

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

Refuse = Callable[[str], Exception]  # detail -> the service's 400 `idempotency_key_required`
RequiredKey = Callable[..., Awaitable[str]]
OptionalKey = Callable[..., Awaitable[str | None]]


def idempotency_header(refuse: Refuse) -> tuple[RequiredKey, OptionalKey]:
    """(required, optional) dependencies for the header. The optional one is for
    endpoints that move money only for some bodies: their service decides."""

    async def required(
        idempotency_key: Annotated[
            str | None,
            Header(alias=HEADER, description=f"{IDEMPOTENCY_KEY_RULE}, unique per request."),
        ] = None,
    ) -> str:
        if idempotency_key is None:
            raise refuse(f"this request moves money: send an {HEADER} header")
        return _checked(idempotency_key, refuse)

    async def optional(
        idempotency_key: Annotated[
            str | None,
            Header(
                alias=HEADER,
                description=f"{IDEMPOTENCY_KEY_RULE}; required when the request moves money.",
            ),
        ] = None,
    ) -> str | None:
        if idempotency_key is None:
            return None
        return _checked(idempotency_key, refuse)

    return required, optional


def _checked(key: str, refuse: Refuse) -> str:
    if not is_idempotency_key(key):
        raise refuse(f"{HEADER} must be {IDEMPOTENCY_KEY_RULE}")
    return key
