"""HTTP for payments: pay an agent, move between own accounts, read receipts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.gateway.auth import AuthenticatedAgent, current_agent
from services.gateway.idempotency import IdempotencyKey, receipt_response
from services.gateway.openapi import problem_responses
from services.gateway.payments.schemas import (
    HubRoutingPayment,
    InternalTransfer,
    ReceiptOut,
    ReceiptPageOut,
)
from services.payment_tee.core.history import MAX_PAGE

router = APIRouter(prefix="/v2/payments", tags=["payments"])
Agent = Annotated[AuthenticatedAgent, Depends(current_agent)]


@router.post(
    "/hub-routing",
    status_code=201,
    response_model=ReceiptOut,
    responses=problem_responses(400, 401, 402, 404, 409, 422, 429, 503),
    summary="Pay another agent; the tier commission is taken from the amount",
)
async def pay_agent(
    body: HubRoutingPayment, agent: Agent, key: IdempotencyKey, request: Request
) -> JSONResponse:
    result = await request.app.state.payments.pay_agent(
        agent, body.to_agent, body.amount, body.memo, key
    )
    return receipt_response(result)


@router.post(
    "/internal-transfer",
    status_code=201,
    response_model=ReceiptOut,
    responses=problem_responses(400, 401, 402, 404, 409, 422, 429, 503),
    summary="Move money between the caller's own accounts (fee-free, counts toward the limit)",
)
async def internal_transfer(
    body: InternalTransfer, agent: Agent, key: IdempotencyKey, request: Request
) -> JSONResponse:
    result = await request.app.state.payments.move_between_accounts(
        agent, body.from_account, body.to_account, body.amount, body.memo, key
    )
    return receipt_response(result)


@router.get(
    "",
    response_model=ReceiptPageOut,
    responses=problem_responses(401, 422),
    summary="The caller's payments, newest first (keyset pagination)",
)
async def list_payments(
    agent: Agent,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    page = await request.app.state.dispatcher.receipts(agent.agent_id, limit, cursor)
    return JSONResponse(
        {"data": [r.to_wire() for r in page.receipts], "next_cursor": page.next_cursor}
    )


@router.get(
    "/{payment_id}",
    response_model=ReceiptOut,
    responses=problem_responses(401, 404),
    summary="One receipt, for its payer or payee only",
)
async def get_payment(payment_id: uuid.UUID, agent: Agent, request: Request) -> JSONResponse:
    receipt = await request.app.state.dispatcher.receipt(agent.agent_id, payment_id)
    return JSONResponse(receipt.to_wire())
