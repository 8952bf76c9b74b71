"""HTTP for chain watchers: signed events, verified on the raw body before anything else."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from services.key_server.errors import (
    BadSignature,
    EventConflict,
    InvalidRequest,
    PayloadTooLarge,
)
from services.key_server.events import service
from services.key_server.events.schemas import ChainEvent, EventOut
from services.key_server.metrics import (
    CHAIN_EVENTS,
    CHAIN_EVENTS_REFUSED,
    DEPOSITS_CONFIRMED,
    DEPOSITS_SEEN,
)
from services.key_server.openapi import problem_responses
from services.key_server.watchers.service import verify_event

log = logging.getLogger("sealpay.key_server.events")
MAX_EVENT_BYTES = 16 * 1024
router = APIRouter(tags=["chain events"])

_EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ChainEvent.model_json_schema()}},
    }
}


@router.post(
    "/internal/chain-events",
    response_model=EventOut,
    responses=problem_responses(401, 404, 409, 413, 422),
    summary="A watcher reports an output (signed: X-Sealpay-Key-Id, -Timestamp, -Signature)",
    openapi_extra=_EVENT_BODY,
)
async def chain_event(request: Request) -> EventOut:
    state = request.app.state
    body = await _bounded_body(request)
    now = state.clock.now()

    def run() -> service.EventOutcome:
        with state.engine.begin() as conn:
            watcher_id = verify_event(conn, state.vault, request.headers, body, now)
            return service.ingest_event(conn, watcher_id, _parse(body), now)

    try:
        outcome = await run_in_threadpool(run)
    except (BadSignature, EventConflict) as exc:
        CHAIN_EVENTS_REFUSED.labels(exc.code).inc()
        log.warning("key_server.chain_event.refused", extra={"code": exc.code})
        raise
    _count(outcome)
    return EventOut(
        chain=outcome.chain_id,
        txid=outcome.txid,
        output=outcome.output_index,
        outcome=outcome.outcome,
        matched=outcome.matched,
        confirmations=outcome.confirmations,
        confirmed=outcome.confirmed,
        charge_id=outcome.charge_id,
        charge_status=outcome.charge_status,
    )


async def _bounded_body(request: Request) -> bytes:
    """The raw body, refused past MAX_EVENT_BYTES: it is read before anyone is
    authenticated, so its size must not be the sender's choice."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_EVENT_BYTES:
        raise PayloadTooLarge(f"an event is at most {MAX_EVENT_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_EVENT_BYTES:
            raise PayloadTooLarge(f"an event is at most {MAX_EVENT_BYTES} bytes")
    return bytes(body)


def _parse(body: bytes) -> ChainEvent:
    try:
        return ChainEvent.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        raise InvalidRequest("the event is not valid", errors=errors) from None


def _count(outcome: service.EventOutcome) -> None:
    """Counted after the commit, so a rolled-back event counts nothing."""
    CHAIN_EVENTS.labels(outcome.chain_id, outcome.outcome).inc()
    if outcome.matched != "deposit":
        return
    if outcome.outcome == "new":
        DEPOSITS_SEEN.labels(outcome.chain_id).inc()
    if outcome.credit_id is not None:
        DEPOSITS_CONFIRMED.labels(outcome.chain_id).inc()
        log.info(
            "key_server.deposit.confirmed",
            extra={"chain": outcome.chain_id, "txid": outcome.txid, "output": outcome.output_index},
        )
