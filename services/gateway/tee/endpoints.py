"""GET /v2/tee/attestation: the TEE's attestation document, passed through.

Clients (the SDK with verify_tee=True) send their own fresh nonce and verify
the document themselves; the gateway adds nothing and changes nothing.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.common.problems import Problem
from services.gateway.openapi import problem_responses
from services.payment_client.errors import TeeUnavailable

router = APIRouter(prefix="/v2/tee", tags=["attestation"])

_NONCE = re.compile(r"(?:[0-9a-fA-F]{2}){16,64}")


@router.get(
    "/attestation",
    responses=problem_responses(422, 503),
    summary="The payment TEE's SEV-SNP attestation document for your nonce",
    description=(
        "`nonce`: 16 to 64 random bytes, hex. The document's REPORT_DATA binds the "
        "TEE's TLS key, its receipt-signing key and this nonce (DESIGN.md, Contracts)."
    ),
)
async def attestation(
    request: Request, nonce: Annotated[str, Query(min_length=32, max_length=128)]
) -> JSONResponse:
    # fullmatch, not bytes.fromhex alone: that skips spaces, and a short nonce
    # padded with them would reach the TEE, which refuses it.
    if _NONCE.fullmatch(nonce) is None:
        raise Problem(422, "validation_error", "nonce must be 16 to 64 bytes in hex", field="nonce")
    raw = bytes.fromhex(nonce)
    tee = getattr(request.app.state.dispatcher, "tee", None)
    if tee is None:
        raise Problem(
            503,
            "attestation_unavailable",
            "this gateway runs the in-process payment core (PAYMENT_VIA_TEE is off)",
        )
    try:
        document = await tee.attestation_document(raw)
    except TeeUnavailable as exc:
        raise Problem(503, "attestation_unavailable", exc.detail) from None
    return JSONResponse(document, headers={"Cache-Control": "no-store"})
