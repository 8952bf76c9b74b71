"""HTTP for charges (internal: billing's crypto rail)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool

from services.key_server.auth import require_service
from services.key_server.charges import service
from services.key_server.charges.schemas import ChargeOut, CreateCharge
from services.key_server.openapi import problem_responses

router = APIRouter(prefix="/charges", tags=["charges"], dependencies=[Depends(require_service)])


def charge_out(view: service.ChargeView) -> ChargeOut:
    charge = view.charge
    return ChargeOut(
        charge_id=charge.id,
        chain=charge.chain_id,
        address=view.address,
        amount=charge.amount,
        expires_at=charge.expires_at,
        status=charge.status,
        reference=charge.reference,
        amount_received=view.amount_received,
        amount_seen=view.amount_seen,
        confirmations_required=view.confirmations_required,
        txids=view.txids,
        paid_late=view.paid_late,
        callback_url=charge.callback_url,
        created_at=charge.created_at,
        updated_at=charge.updated_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=ChargeOut,
    responses=problem_responses(401, 404, 409, 422),
    summary="Create a charge: a fresh address, an amount, an expiry",
)
async def create_charge(
    body: CreateCharge,
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ChargeOut:
    state = request.app.state

    def run() -> tuple[service.ChargeView, bool]:
        with state.engine.begin() as conn:
            return service.create_charge(conn, state.keys, body, idempotency_key, state.clock.now())

    view, replayed = await run_in_threadpool(run)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return charge_out(view)


@router.get(
    "/{charge_id}",
    response_model=ChargeOut,
    responses=problem_responses(401, 404),
    summary="A charge and what has arrived for it",
)
async def get_charge(charge_id: uuid.UUID, request: Request) -> ChargeOut:
    state = request.app.state

    def run() -> service.ChargeView:
        with state.engine.begin() as conn:
            return service.get_charge(conn, charge_id, state.clock.now())

    return charge_out(await run_in_threadpool(run))
