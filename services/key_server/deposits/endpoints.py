"""HTTP for deposit addresses (internal: the gateway asks on the agent's behalf)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from services.key_server.addresses.repository import AddressRow
from services.key_server.auth import require_service
from services.key_server.deposits import service
from services.key_server.deposits.schemas import DepositAddressOut, DepositAddressRequest
from services.key_server.openapi import problem_responses

router = APIRouter(tags=["deposits"], dependencies=[Depends(require_service)])


@router.post(
    "/internal/agents/{agent_id}/deposit-address",
    response_model=DepositAddressOut,
    responses=problem_responses(401, 404, 409, 422),
    summary="The agent's deposit address on a chain (stable unless `fresh`)",
)
async def deposit_address(
    agent_id: uuid.UUID, body: DepositAddressRequest, request: Request
) -> DepositAddressOut:
    state = request.app.state

    def run() -> tuple[AddressRow, bool]:
        with state.engine.begin() as conn:
            return service.deposit_address(
                conn, state.keys, body.chain, agent_id, fresh=body.fresh, now=state.clock.now()
            )

    address, created = await run_in_threadpool(run)
    return DepositAddressOut(
        chain=address.chain_id,
        address=address.address,
        index=address.derivation_index,
        created=created,
    )
