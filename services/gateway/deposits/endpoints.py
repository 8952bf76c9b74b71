"""HTTP for deposits: the caller's own deposit address on a chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.auth import AuthenticatedAgent, current_agent
from services.gateway.openapi import problem_responses

router = APIRouter(prefix="/v2/deposits", tags=["deposits"])
Agent = Annotated[AuthenticatedAgent, Depends(current_agent)]


class DepositAddressRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: str = Field(min_length=1, max_length=32, examples=["btc"])
    fresh: bool = Field(default=False, description="a new address instead of your current one")


@router.post(
    "/address",
    responses=problem_responses(401, 404, 422, 503),
    summary="Your deposit address on a chain (stable unless you ask for a fresh one)",
    description=(
        "Funds sent there are credited to your `main` account once the chain's confirmation "
        "count is reached, exactly once per output."
    ),
)
async def deposit_address(
    body: DepositAddressRequest, agent: Agent, request: Request
) -> JSONResponse:
    result, headers = await request.app.state.key_server.call(
        "POST", f"/internal/agents/{agent.agent_id}/deposit-address", json=body.model_dump()
    )
    return JSONResponse(result, headers=headers)
