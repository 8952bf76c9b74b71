"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from services.billing.ops import repository as repo
from services.billing.runtime import Billing
from services.common.observability import metrics_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers, billing is migrated")
async def readyz(request: Request) -> JSONResponse:
    billing: Billing = request.app.state.billing
    try:
        async with billing.db.transaction() as conn:
            plans, queue = await repo.readiness(conn)
    except Exception as exc:  # any failure means not ready; say why
        return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, status_code=503)
    if plans == 0 or not queue:
        why = "no plans" if plans == 0 else "no job tables"
        return JSONResponse({"status": "unavailable", "database": why}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok", "plans": plans})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return metrics_response(request)
