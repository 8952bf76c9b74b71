"""Liveness, readiness and metrics."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from services.common.observability import metrics_response
from services.payment_client.switching import SwitchingDispatcher

log = logging.getLogger("sealpay.gateway.ops")

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="Readiness: the database answers and money can move (TEE or fallback)"
)
def readyz(request: Request) -> JSONResponse:
    """Not ready while the database does not answer, or while money calls would be
    503: the TEE down or not attested with the in-process fallback off. The cause
    goes to the log, not to this public answer (it may name hosts and users)."""
    checks = {"database": "ok", "payment_core": "ok"}
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure means not ready
        log.warning("gateway.readiness.database", extra={"error": str(exc)[:300]})
        checks["database"] = "unavailable"
    dispatcher = request.app.state.dispatcher
    if isinstance(dispatcher, SwitchingDispatcher) and not dispatcher.can_serve():
        checks["payment_core"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", **checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return metrics_response(request)
