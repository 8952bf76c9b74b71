"""Operator endpoints for plans."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from services.billing.auth import require_admin
from services.billing.openapi import problem_responses
from services.billing.plans import repository as repo
from services.billing.plans import service
from services.billing.plans.schemas import PlanOut, PlanPatch
from services.billing.runtime import Billing

router = APIRouter(prefix="/admin/plans", tags=["admin"], dependencies=[Depends(require_admin)])


@router.get("", response_model=list[PlanOut], responses=problem_responses(401), summary="Plans")
async def list_plans(request: Request) -> list[dict[str, object]]:
    billing: Billing = request.app.state.billing
    async with billing.db.transaction() as conn:
        return [service.wire(p) for p in await repo.list_plans(conn)]


@router.patch(
    "/{code}",
    response_model=PlanOut,
    responses=problem_responses(401, 404, 422),
    summary="Edit a plan (applies to new quotes and renewals)",
)
async def patch_plan(code: str, body: PlanPatch, request: Request) -> dict[str, object]:
    billing: Billing = request.app.state.billing
    async with billing.db.transaction() as conn:
        plan = await service.patch_plan(conn, code, body, "operator", billing.clock.now())
    return service.wire(plan)
