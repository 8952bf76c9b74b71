"""Liveness, readiness (database and vault) and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from services.common.observability import metrics_response
from services.key_server.vault import service as vault_service

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers and the vault keys open every row")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state

    def check() -> dict[str, int]:
        with state.engine.connect() as conn:
            return vault_service.rows_by_key(conn)

    try:
        counts = await run_in_threadpool(check)
    except Exception as exc:  # any failure means not ready; say why
        return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, status_code=503)
    orphaned = sum(n for key, n in counts.items() if key not in state.vault.key_ids)
    if orphaned:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "vault": f"{orphaned} rows are sealed by a key missing from KEY_SERVER_VAULT_KEYS",
            },
            status_code=503,
        )
    pending = sum(n for key, n in counts.items() if key != state.vault.primary_key_id)
    vault = "ok" if not pending else f"ok ({pending} rows under older keys: run rotate-vault)"
    return JSONResponse({"status": "ready", "database": "ok", "vault": vault})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return metrics_response(request)
