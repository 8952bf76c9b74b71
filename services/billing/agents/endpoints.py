"""The internal per-agent API the gateway calls (service token).

`{agent_id}` is the gateway's agent UUID, which is also the payment core's owner id.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from services.billing.agents import service
from services.billing.agents.schemas import (
    DowngradeOut,
    DowngradeRequestBody,
    PlanSetOut,
    QuoteOut,
    TierOut,
    TierRequest,
    UpgradeOut,
    UpgradeRequestBody,
)
from services.billing.auth import require_service
from services.billing.crypto.schemas import CryptoUpgradeOut
from services.billing.errors import IdempotencyKeyRequired
from services.billing.openapi import problem_responses
from services.billing.runtime import Billing
from services.common.idempotency_header import REPLAYED_HEADER, idempotency_header

router = APIRouter(
    prefix="/internal/agents/{agent_id}",
    tags=["internal"],
    dependencies=[Depends(require_service)],
)

idempotency_key, optional_idempotency_key = idempotency_header(IdempotencyKeyRequired)


def _billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


@router.get(
    "/tier",
    response_model=TierOut,
    responses=problem_responses(401, 404),
    summary="The agent's tier, this month's usage and its subscription",
)
async def get_tier(agent_id: uuid.UUID, request: Request) -> JSONResponse:
    return JSONResponse(await service.tier_view(_billing(request), agent_id))


@router.post(
    "/upgrade-quote",
    status_code=201,
    response_model=QuoteOut,
    responses=problem_responses(401, 404, 409, 422, 503),
    summary="What upgrading costs now (valid 5 minutes, bound to its rate)",
)
async def upgrade_quote(agent_id: uuid.UUID, body: TierRequest, request: Request) -> JSONResponse:
    quote = await service.quote_upgrade(_billing(request), agent_id, body.tier)
    return JSONResponse(quote, status_code=201)


@router.post(
    "/upgrade",
    response_model=UpgradeOut,
    responses={
        202: {
            "model": CryptoUpgradeOut,
            "description": "pay_with crypto: the invoice to pay on-chain; the tier changes "
            "once the key server confirms the payment",
        },
        **problem_responses(400, 401, 402, 404, 409, 410, 422, 503),
    },
    summary="Upgrade now from the balance (200), or by a crypto invoice (202); idempotent",
)
async def upgrade(
    agent_id: uuid.UUID,
    body: UpgradeRequestBody,
    request: Request,
    key: Annotated[str, Depends(idempotency_key)],
) -> JSONResponse:
    result = await service.upgrade(
        _billing(request),
        agent_id,
        body.tier,
        body.quote_id,
        key,
        pay_with=body.pay_with,
        chain=body.chain,
    )
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    return JSONResponse(result.body, status_code=result.status, headers=headers)


@router.post(
    "/downgrade",
    response_model=DowngradeOut,
    responses=problem_responses(400, 401, 404, 409, 422, 503),
    summary="Downgrade at period end (default) or now with a refund of the unused part; "
    "an immediate one needs an Idempotency-Key",
)
async def downgrade(
    agent_id: uuid.UUID,
    body: DowngradeRequestBody,
    request: Request,
    key: Annotated[str | None, Depends(optional_idempotency_key)],
) -> JSONResponse:
    result = await service.downgrade(_billing(request), agent_id, body.tier, body.immediate, key)
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    return JSONResponse(result.body, headers=headers)


@router.post(
    "/plan",
    response_model=PlanSetOut,
    responses=problem_responses(401, 404, 422, 503),
    summary="Operator comp or correction: set the tier without charging (audited)",
)
async def set_plan(agent_id: uuid.UUID, body: TierRequest, request: Request) -> JSONResponse:
    actor = request.headers.get("x-sealpay-actor", "operator")[:64] or "operator"
    return JSONResponse(await service.set_plan(_billing(request), agent_id, body.tier, actor))
