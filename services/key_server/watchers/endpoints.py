"""HTTP for watchers (operator): create (secret shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from services.key_server.auth import require_admin
from services.key_server.openapi import problem_responses
from services.key_server.watchers import service
from services.key_server.watchers.repository import WatcherRow
from services.key_server.watchers.schemas import (
    CreatedWatcher,
    CreateWatcher,
    WatcherList,
    WatcherOut,
)

router = APIRouter(
    prefix="/admin/watchers", tags=["watchers"], dependencies=[Depends(require_admin)]
)


@router.post(
    "",
    status_code=201,
    response_model=CreatedWatcher,
    responses=problem_responses(401, 422),
    summary="Create a chain watcher's signing key (the secret is shown once)",
)
async def create_watcher(body: CreateWatcher, request: Request) -> CreatedWatcher:
    state = request.app.state

    def run() -> tuple[WatcherRow, str]:
        with state.engine.begin() as conn:
            return service.create_watcher(conn, state.vault, body.name, state.clock.now())

    row, secret = await run_in_threadpool(run)
    return CreatedWatcher(key_id=row.id, secret=secret, name=row.name, created_at=row.created_at)


@router.get("", response_model=WatcherList, responses=problem_responses(401), summary="Watchers")
async def list_watchers(request: Request) -> WatcherList:
    engine = request.app.state.engine

    def run() -> list[WatcherRow]:
        with engine.connect() as conn:
            return service.list_watchers(conn)

    rows = await run_in_threadpool(run)
    return WatcherList(
        watchers=[
            WatcherOut(key_id=r.id, name=r.name, created_at=r.created_at, revoked_at=r.revoked_at)
            for r in rows
        ]
    )


@router.delete(
    "/{key_id}",
    status_code=204,
    responses=problem_responses(401, 404),
    summary="Revoke a watcher: its events are refused from now on",
)
async def revoke_watcher(key_id: str, request: Request) -> Response:
    state = request.app.state

    def run() -> None:
        with state.engine.begin() as conn:
            service.revoke_watcher(conn, key_id, state.clock.now())

    await run_in_threadpool(run)
    return Response(status_code=204)
