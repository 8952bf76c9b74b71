"""The `Idempotency-Key` header on money-moving POSTs.

The key is not stored by the gateway: it travels to the payment core and is
recorded on the journal entry itself, where a replay finds it (DESIGN.md rule 3).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header
from fastapi.responses import JSONResponse

from services.common.problems import Problem
from services.payment_tee.core.ledger import PostingResult

_KEY = re.compile(r"^[\x21-\x7e]{8,255}$")

REPLAYED_HEADER = "Idempotent-Replayed"


async def idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="8-255 printable ASCII characters, unique per intended payment.",
        ),
    ] = None,
) -> str:
    if idempotency_key is None:
        raise Problem(
            400,
            "idempotency_key_required",
            "this request moves money: send an Idempotency-Key header",
        )
    return _checked(idempotency_key)


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise Problem(
            400,
            "idempotency_key_required",
            "Idempotency-Key must be 8-255 printable ASCII characters without spaces",
        )
    return key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]


async def optional_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="8-255 printable ASCII characters; required when the request moves money.",
        ),
    ] = None,
) -> str | None:
    """For endpoints that move money only for some bodies (the service decides)."""
    if idempotency_key is None:
        return None
    return _checked(idempotency_key)


OptionalIdempotencyKey = Annotated[str | None, Depends(optional_idempotency_key)]


def receipt_response(result: PostingResult) -> JSONResponse:
    """201 with the receipt; a replay is 201 again, flagged by a header."""
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    return JSONResponse(result.receipt.to_wire(), status_code=201, headers=headers)
