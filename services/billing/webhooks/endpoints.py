"""Operator endpoints for outgoing webhooks: endpoints, deliveries, replays."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.billing.auth import require_admin
from services.billing.dbtypes import Conn
from services.billing.openapi import problem_responses
from services.billing.runtime import Billing
from services.billing.webhooks import repository as repo
from services.billing.webhooks import service
from services.billing.webhooks.schemas import DeliveryOut, EndpointIn, EndpointOut
from services.common.clock import rfc3339

router = APIRouter(prefix="/admin/webhooks", tags=["admin"], dependencies=[Depends(require_admin)])


def _billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


def _endpoint(endpoint: repo.Endpoint, secret: str | None = None) -> dict[str, Any]:
    """The endpoint as operators see it; the plaintext secret only when just created."""
    return {
        "endpoint_id": str(endpoint.id),
        "url": endpoint.url,
        "events": endpoint.events,
        "created_at": rfc3339(endpoint.created_at),
        "secret": secret,
    }


async def _deliveries(conn: Conn, deliveries: list[repo.Delivery]) -> list[dict[str, Any]]:
    ids = [d.id for d in deliveries]
    attempts = await repo.attempts_of(conn, ids)
    types = await repo.event_types_of(conn, ids)
    by_delivery: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append(
            {
                "attempt": a.attempt,
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
                "at": rfc3339(a.at),
            }
        )
    return [
        {
            "delivery_id": str(d.id),
            "event_id": str(d.event_id),
            "event_type": types.get(d.id, ""),
            "endpoint_id": str(d.endpoint_id),
            "status": d.status,
            "attempts": d.attempts,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "replay_of": str(d.replay_of) if d.replay_of else None,
            "created_at": rfc3339(d.created_at),
            "delivered_at": rfc3339(d.delivered_at) if d.delivered_at else None,
            "attempt_log": by_delivery.get(d.id, []),
        }
        for d in deliveries
    ]


@router.post(
    "/endpoints",
    status_code=201,
    response_model=EndpointOut,
    responses=problem_responses(401, 422),
    summary="Register an endpoint (its secret is shown once)",
)
async def create_endpoint(body: EndpointIn, request: Request) -> JSONResponse:
    billing = _billing(request)
    async with billing.db.transaction() as conn:
        endpoint, secret = await service.create_endpoint(
            conn, billing.vault, str(body.url), body.secret, body.events, billing.clock.now()
        )
    return JSONResponse(_endpoint(endpoint, secret), status_code=201)


@router.get(
    "/endpoints",
    response_model=list[EndpointOut],
    responses=problem_responses(401),
    summary="Registered endpoints (secrets are not shown)",
)
async def list_endpoints(request: Request) -> list[dict[str, Any]]:
    async with _billing(request).db.transaction() as conn:
        return [_endpoint(e) for e in await repo.list_endpoints(conn)]


@router.delete(
    "/endpoints/{endpoint_id}",
    status_code=204,
    responses=problem_responses(401, 404),
    summary="Remove an endpoint (its pending deliveries stop)",
)
async def delete_endpoint(endpoint_id: uuid.UUID, request: Request) -> Response:
    billing = _billing(request)
    async with billing.db.transaction() as conn:
        await service.delete_endpoint(conn, endpoint_id, billing.clock.now())
    return Response(status_code=204)


@router.get(
    "/deliveries",
    response_model=list[DeliveryOut],
    responses=problem_responses(401, 422),
    summary="Deliveries, newest first, with each attempt's outcome",
)
async def list_deliveries(
    request: Request,
    endpoint_id: uuid.UUID | None = None,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    async with _billing(request).db.transaction() as conn:
        found = await repo.list_deliveries(conn, endpoint_id, status, limit)
        return await _deliveries(conn, found)


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    responses=problem_responses(401, 404),
    summary="Send a delivery's event again (a new delivery, same webhook-id)",
)
async def replay_delivery(delivery_id: uuid.UUID, request: Request) -> JSONResponse:
    billing = _billing(request)
    async with billing.db.transaction() as conn:
        delivery = await service.replay(conn, billing.queue, delivery_id, billing.clock.now())
        (body,) = await _deliveries(conn, [delivery])
    return JSONResponse(body, status_code=202)
