"""HTTP for agents: register, who am I, balance, sub-accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.gateway.agents.schemas import (
    AccountOut,
    BalanceOut,
    Me,
    OpenAccount,
    RegisterAgent,
    RegisteredAgent,
)
from services.gateway.auth import AuthenticatedAgent, current_agent
from services.gateway.openapi import problem_responses

router = APIRouter(prefix="/v2", tags=["agents"])
Agent = Annotated[AuthenticatedAgent, Depends(current_agent)]


@router.post(
    "/agents",
    status_code=201,
    response_model=RegisteredAgent,
    responses=problem_responses(409, 422, 503),
    summary="Register an agent and receive its API key (shown once)",
)
async def register_agent(body: RegisterAgent, request: Request) -> RegisteredAgent:
    reg = await request.app.state.agents.register(body.name)
    return RegisteredAgent(
        agent_id=reg.agent.agent_id, name=reg.agent.name, api_key=reg.api_key, tier=reg.tier
    )


@router.get("/me", response_model=Me, responses=problem_responses(401), summary="The calling agent")
async def me(agent: Agent, request: Request) -> Me:
    usage = await request.app.state.dispatcher.usage(agent.agent_id)
    return Me(
        agent_id=agent.agent_id, name=agent.name, tier=usage.tier.value, created_at=agent.created_at
    )


@router.get(
    "/me/balance",
    response_model=BalanceOut,
    responses=problem_responses(401),
    summary="Balances in minor units, per account and in total",
)
async def balance(
    agent: Agent,
    request: Request,
    asset: Annotated[
        str | None,
        Query(pattern=r"^[A-Z][A-Z0-9]{1,9}$", description="default: the ledger's asset (XMR)"),
    ] = None,
) -> BalanceOut:
    bal = await request.app.state.dispatcher.balance(agent.agent_id, asset)
    return BalanceOut(
        asset=bal.asset,
        available=bal.available,
        pending=bal.pending,
        accounts=[AccountOut(name=a.name, available=a.available) for a in bal.accounts],
    )


@router.post(
    "/me/accounts",
    status_code=201,
    response_model=AccountOut,
    responses=problem_responses(401, 409, 422),
    summary="Open a named sub-account (every agent has 'main')",
)
async def open_account(body: OpenAccount, agent: Agent, request: Request) -> AccountOut:
    acc = await request.app.state.dispatcher.open_account(agent.agent_id, body.name)
    return AccountOut(name=acc.name, available=acc.available)
