"""`POST /internal/charge-events`: the key server's signed charge callbacks.

No bearer token: the request is authenticated by its signature (key id
`key_server`, SEALPAY_CALLBACK_SECRET), checked on the raw body before
anything is parsed. Anything unsigned, forged or outside the 300 s window is
401 `bad_signature` and changes nothing.

The window is checked against the wall clock, not billing's business clock:
the sender stamps its real time, and the window bounds how long a captured
request stays replayable, a property of real time (like the webhook-timestamp
of the webhooks billing sends).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import ValidationError

from services.billing.crypto import callbacks
from services.billing.crypto.schemas import ChargeEventIn, ChargeEventOut
from services.billing.errors import BadSignature, InvalidRequest, PayloadTooLarge
from services.billing.openapi import problem_responses
from services.billing.runtime import Billing
from services.common.signing import SignatureError, verify_signed_request

log = logging.getLogger("sealpay.billing.crypto")

router = APIRouter(prefix="/internal", tags=["internal"])

CALLBACK_KEY_ID = "key_server"
MAX_BODY_BYTES = 64 * 1024

REFUSED = Counter(
    "sealpay_billing_charge_events_refused_total",
    "Charge callbacks refused before handling, by reason (signature, too_large, malformed).",
    ["reason"],
)

_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ChargeEventIn.model_json_schema()}},
    }
}


@router.post(
    "/charge-events",
    response_model=ChargeEventOut,
    responses=problem_responses(401, 404, 409, 413, 422, 503),
    summary="A key-server charge callback (signed): pays, voids or records a late payment",
    openapi_extra=_REQUEST_BODY,
)
async def charge_event(request: Request) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        REFUSED.labels("too_large").inc()
        raise PayloadTooLarge(f"a charge callback is at most {MAX_BODY_BYTES} bytes")
    secrets = {CALLBACK_KEY_ID: request.app.state.callback_secret}
    try:
        verify_signed_request(request.headers, raw, secrets, time.time())
    except SignatureError as exc:
        REFUSED.labels("signature").inc()
        log.warning("billing.crypto.bad_signature", extra={"reason": exc.reason})
        raise BadSignature(
            "this callback is not signed by the key server within the last 300 s"
        ) from None
    payload, event = _parse(raw)
    billing: Billing = request.app.state.billing
    return JSONResponse(await callbacks.handle_charge_event(billing, event, payload))


def _parse(raw: bytes) -> tuple[dict[str, Any], ChargeEventIn]:
    try:
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        return payload, ChargeEventIn.model_validate(payload)
    except (ValueError, ValidationError) as exc:
        REFUSED.labels("malformed").inc()
        raise InvalidRequest(f"malformed charge callback: {str(exc)[:300]}") from None
