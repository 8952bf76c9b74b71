"""HTTP for chains: operators register account keys; internal services read the list."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from services.key_server.auth import require_admin, require_admin_or_service
from services.key_server.chains import service
from services.key_server.chains.schemas import ChainList, ChainOut, RegisterChain, UpdateChain
from services.key_server.openapi import problem_responses

router = APIRouter(tags=["chains"])


def chain_out(view: service.ChainView) -> ChainOut:
    row = view.chain
    return ChainOut(
        id=row.id,
        coin=row.kind,
        network=row.network,
        asset=row.asset,
        confirmations=row.confirmations,
        enabled=row.enabled,
        address_type=row.address_type,
        key_fingerprint=row.key_fingerprint,
        key_prefix=row.key_prefix,
        bip32_fingerprint=row.bip32_fingerprint,
        key_depth=row.key_depth,
        first_index=row.first_index,
        addresses_allocated=row.next_index - row.first_index,
        check_address=view.check_address,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted=row.deleted_at is not None,
        warnings=view.warnings,
    )


@router.post(
    "/admin/chains",
    status_code=201,
    response_model=ChainOut,
    dependencies=[Depends(require_admin)],
    responses=problem_responses(401, 409, 422),
    summary="Register a chain with an account-level extended public key (or Monero view keys)",
)
async def register_chain(body: RegisterChain, request: Request) -> ChainOut:
    state = request.app.state

    def run() -> service.ChainView:
        with state.engine.begin() as conn:
            return service.register_chain(conn, state.keys, state.vault, body, state.clock.now())

    return chain_out(await run_in_threadpool(run))


@router.get(
    "/chains",
    response_model=ChainList,
    dependencies=[Depends(require_admin_or_service)],
    responses=problem_responses(401),
    summary="Registered chains (no key material beyond fingerprints)",
)
async def list_chains(request: Request, include_deleted: bool = False) -> ChainList:
    state = request.app.state

    def run() -> list[service.ChainView]:
        with state.engine.connect() as conn:
            return service.list_chains(conn, state.keys, include_deleted=include_deleted)

    return ChainList(chains=[chain_out(view) for view in await run_in_threadpool(run)])


@router.patch(
    "/admin/chains/{chain_id}",
    response_model=ChainOut,
    dependencies=[Depends(require_admin)],
    responses=problem_responses(401, 404, 422),
    summary="Change a chain's confirmation count or enable/disable it",
)
async def update_chain(chain_id: str, body: UpdateChain, request: Request) -> ChainOut:
    state = request.app.state

    def run() -> service.ChainView:
        with state.engine.begin() as conn:
            return service.update_chain(conn, state.keys, chain_id, body, state.clock.now())

    return chain_out(await run_in_threadpool(run))


@router.delete(
    "/admin/chains/{chain_id}",
    status_code=204,
    dependencies=[Depends(require_admin)],
    responses=problem_responses(401, 404),
    summary="Soft-delete a chain: no new addresses; payments to old ones still count",
)
async def delete_chain(chain_id: str, request: Request) -> Response:
    state = request.app.state

    def run() -> None:
        with state.engine.begin() as conn:
            service.delete_chain(conn, chain_id, state.clock.now())

    await run_in_threadpool(run)
    return Response(status_code=204)
