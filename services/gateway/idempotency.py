"""The `Idempotency-Key` header on money-moving POSTs.

The key is not stored by the gateway: it travels to the payment core and is
recorded on the journal entry itself, where a replay finds it (DESIGN.md rule 3).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.responses import JSONResponse

from services.common.idempotency_header import REPLAYED_HEADER, idempotency_header
from services.common.problems import Problem
from services.payment_tee.core.ledger import PostingResult


def _refuse(detail: str) -> Problem:
    return Problem(400, "idempotency_key_required", detail)


idempotency_key, optional_idempotency_key = idempotency_header(_refuse)
IdempotencyKey = Annotated[str, Depends(idempotency_key)]
OptionalIdempotencyKey = Annotated[str | None, Depends(optional_idempotency_key)]


def receipt_response(result: PostingResult) -> JSONResponse:
    """201 with the receipt; a replay is 201 again, flagged by a header."""
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    return JSONResponse(result.receipt.to_wire(), status_code=201, headers=headers)
