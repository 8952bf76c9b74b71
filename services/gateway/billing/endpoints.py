"""HTTP for tiers and upgrades; billing owns the rules, this forwards for the caller.

The agent is always the authenticated caller: the gateway puts its id in the
internal path, so one agent can never quote, upgrade or downgrade another.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from services.gateway.auth import AuthenticatedAgent, current_agent
from services.gateway.idempotency import IdempotencyKey, OptionalIdempotencyKey
from services.gateway.openapi import problem_responses

router = APIRouter(prefix="/v2/me", tags=["tiers"])
Agent = Annotated[AuthenticatedAgent, Depends(current_agent)]


class TierChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str = Field(min_length=1, max_length=32, description="free, pro or enterprise (any case)")


class UpgradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str | None = Field(default=None, min_length=1, max_length=32)
    quote_id: str | None = Field(default=None, min_length=1, max_length=64)
    pay_with: Literal["balance", "crypto"] | None = Field(
        default=None,
        description="balance (default): charged from your balance now, 200; crypto: an "
        "invoice to pay on-chain, 202, the tier changes once the payment confirms",
    )
    chain: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="with pay_with crypto: the chain to pay on (e.g. btc)",
    )

    @model_validator(mode="after")
    def one_of(self) -> UpgradeRequest:
        if (self.tier is None) == (self.quote_id is None):
            raise ValueError("send exactly one of tier or quote_id")
        return self


class DowngradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str = Field(min_length=1, max_length=32)
    immediate: StrictBool = Field(
        default=False, description="refund the unused part now instead of at period end"
    )


def _json(body: dict[str, Any], status: int, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


@router.get(
    "/tier",
    responses=problem_responses(401, 503),
    summary="Your tier, this month's transfers against its limit, and your subscription",
)
async def tier(agent: Agent, request: Request) -> JSONResponse:
    body, headers = await request.app.state.billing.call(
        "GET", f"/internal/agents/{agent.agent_id}/tier"
    )
    return _json(body, 200, headers)


@router.post(
    "/upgrade-quote",
    status_code=201,
    responses=problem_responses(401, 409, 422, 503),
    summary="Quote an upgrade: what it costs now (prorated, converted at a stated rate)",
)
async def upgrade_quote(body: TierChoice, agent: Agent, request: Request) -> JSONResponse:
    quote, headers = await request.app.state.billing.call(
        "POST", f"/internal/agents/{agent.agent_id}/upgrade-quote", json=body.model_dump()
    )
    return _json(quote, 201, headers)


@router.post(
    "/upgrade",
    responses={
        202: {"description": "pay_with crypto: the invoice, with the address and amount to pay"},
        **problem_responses(400, 401, 402, 404, 409, 410, 422, 503),
    },
    summary="Upgrade: paid from your balance now, or by a crypto invoice (202)",
)
async def upgrade(
    body: UpgradeRequest, agent: Agent, key: IdempotencyKey, request: Request
) -> JSONResponse:
    result, headers = await request.app.state.billing.call(
        "POST",
        f"/internal/agents/{agent.agent_id}/upgrade",
        json=body.model_dump(exclude_none=True),
        headers={"Idempotency-Key": key},
    )
    # Billing answers 202 exactly when the upgrade waits for a crypto invoice (its body
    # says `pay_with: crypto`); the same status is kept for replays.
    status = 202 if result.get("pay_with") == "crypto" else 200
    return _json(result, status, headers)


@router.post(
    "/downgrade",
    responses=problem_responses(400, 401, 409, 422, 503),
    summary="Downgrade at period end (default) or immediately with a prorated refund "
    "(immediate needs an Idempotency-Key; a replay returns the first answer)",
)
async def downgrade(
    body: DowngradeRequest, agent: Agent, key: OptionalIdempotencyKey, request: Request
) -> JSONResponse:
    result, headers = await request.app.state.billing.call(
        "POST",
        f"/internal/agents/{agent.agent_id}/downgrade",
        json=body.model_dump(),
        headers={"Idempotency-Key": key} if key is not None else None,
    )
    return _json(result, 200, headers)
