"""Operator endpoints, behind SEALPAY_ADMIN_TOKEN.

`POST /v2/admin/credits` is a real ledger posting (platform `credits:manual`
-> agent), a stand-in for deposits until the key server lands.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from services.common.problems import Problem
from services.gateway.admin.schemas import (
    AdminCredit,
    ApiKeyIssued,
    ApiKeyOut,
    IssueApiKey,
    SetTier,
    TierOut,
)
from services.gateway.auth import require_admin
from services.gateway.idempotency import IdempotencyKey, receipt_response
from services.gateway.openapi import problem_responses
from services.gateway.payments.schemas import ReceiptOut
from services.payment_tee.core.commands import CreditCommand
from services.payment_tee.core.records import AccountRef
from services.payment_tee.core.tiers import parse_tier

router = APIRouter(prefix="/v2/admin", tags=["admin"], dependencies=[Depends(require_admin)])

MANUAL_CREDITS = "credits:manual"


@router.post(
    "/credits",
    status_code=201,
    response_model=ReceiptOut,
    responses=problem_responses(400, 401, 404, 409, 422),
    summary="Credit an agent's account (operator; a real, idempotent ledger posting)",
)
async def credit_agent(body: AdminCredit, key: IdempotencyKey, request: Request) -> JSONResponse:
    state = request.app.state
    if await state.agents.resolve(str(body.agent_id)) is None:
        raise Problem(404, "not_found", f"no agent {body.agent_id}")
    result = await state.dispatcher.credit(
        CreditCommand(
            account=AccountRef(body.agent_id, body.account, state.dispatcher.default_asset),
            amount=body.amount,
            idempotency_key=key,
            source=MANUAL_CREDITS,
            scope="admin",
            actor="operator",
            memo=body.memo,
        )
    )
    return receipt_response(result)


@router.post(
    "/agents/{agent_id}/tier",
    response_model=TierOut,
    responses=problem_responses(401, 404, 422),
    summary="Set an agent's plan without charge (operator; recorded by billing)",
)
async def set_tier(agent_id: uuid.UUID, body: SetTier, request: Request) -> TierOut:
    """Billing owns an agent's plan: the change is recorded there (audited, any
    live subscription cancelled, no charge) and billing pushes the tier to the core."""
    tier = parse_tier(body.tier)
    result, _ = await request.app.state.billing.call(
        "POST",
        f"/internal/agents/{agent_id}/plan",
        json={"tier": tier.value},
        headers={"X-Sealpay-Actor": "operator"},
    )
    return TierOut(agent_id=result["agent_id"], tier=result["tier"])


@router.post(
    "/agents/{agent_id}/api-keys",
    status_code=201,
    response_model=ApiKeyIssued,
    responses=problem_responses(401, 404, 422),
    summary="Issue a new API key for an agent, shown once; by default revoke its others",
)
async def issue_api_key(
    agent_id: uuid.UUID, request: Request, body: IssueApiKey | None = None
) -> ApiKeyIssued:
    """For an agent whose registration answer was lost, or whose key leaked. Not
    idempotent by design: asking again issues another key (and, by default,
    revokes the one before), so a lost answer is recovered by asking again."""
    state = request.app.state
    revoke = (body or IssueApiKey()).revoke_existing
    issued = await state.agents.issue_api_key(agent_id, revoke_existing=revoke)
    if issued is None:
        raise Problem(404, "not_found", f"no agent {agent_id}")
    api_key, row, revoked = issued
    if revoked:
        state.auth_cache.forget_agent(agent_id)
    return ApiKeyIssued(
        agent_id=agent_id, api_key=api_key, revoked=revoked, key_id=row.id, prefix=row.prefix,
        created_at=row.created_at, revoked_at=None,
    )  # fmt: skip


@router.get(
    "/agents/{agent_id}/api-keys",
    response_model=list[ApiKeyOut],
    responses=problem_responses(401, 404),
    summary="An agent's API keys (prefixes and dates; never the keys)",
)
async def list_api_keys(agent_id: uuid.UUID, request: Request) -> list[ApiKeyOut]:
    keys = await request.app.state.agents.api_keys(agent_id)
    if keys is None:
        raise Problem(404, "not_found", f"no agent {agent_id}")
    return [
        ApiKeyOut(key_id=k.id, prefix=k.prefix, created_at=k.created_at, revoked_at=k.revoked_at)
        for k in keys
    ]
