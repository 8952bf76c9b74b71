"""HTTP for an agent's own secrets (internal: the gateway calls these for the agent)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from services.common.sealing import SecretOwner
from services.key_server.auth import require_service
from services.key_server.openapi import problem_responses
from services.key_server.vault import service
from services.key_server.vault.schemas import SecretList, SecretOut, StoreSecret

router = APIRouter(
    prefix="/internal/agents/{agent_id}/secrets",
    tags=["vault"],
    dependencies=[Depends(require_service)],
)


def _owner(agent_id: uuid.UUID) -> SecretOwner:
    return SecretOwner("agent", str(agent_id))


def _out(info: service.SecretInfo) -> SecretOut:
    return SecretOut(
        name=info.name, hint=info.hint, created_at=info.created_at, updated_at=info.updated_at
    )


@router.post(
    "",
    status_code=201,
    response_model=SecretOut,
    responses={200: {"description": "replaced an existing secret"}, **problem_responses(401, 422)},
    summary="Store (or replace) a secret; only a hint is ever returned",
)
async def store_secret(
    agent_id: uuid.UUID, body: StoreSecret, request: Request, response: Response
) -> SecretOut:
    state = request.app.state

    def run() -> tuple[service.SecretInfo, bool]:
        with state.engine.begin() as conn:
            return service.store_secret(
                conn, state.vault, _owner(agent_id), body.name, body.value, state.clock.now()
            )

    info, created = await run_in_threadpool(run)
    response.status_code = 201 if created else 200
    return _out(info)


@router.get(
    "",
    response_model=SecretList,
    responses=problem_responses(401),
    summary="The agent's secrets: names and hints",
)
async def list_secrets(agent_id: uuid.UUID, request: Request) -> SecretList:
    engine = request.app.state.engine

    def run() -> list[service.SecretInfo]:
        with engine.connect() as conn:
            return service.list_secrets(conn, _owner(agent_id))

    return SecretList(secrets=[_out(info) for info in await run_in_threadpool(run)])


@router.delete(
    "/{name}",
    status_code=204,
    responses=problem_responses(401, 404),
    summary="Delete one of the agent's secrets (404 for any name the agent does not own)",
)
async def delete_secret(agent_id: uuid.UUID, name: str, request: Request) -> Response:
    engine = request.app.state.engine

    def run() -> None:
        with engine.begin() as conn:
            service.delete_secret(conn, _owner(agent_id), name)

    await run_in_threadpool(run)
    return Response(status_code=204)
