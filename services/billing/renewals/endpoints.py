"""Operators: run one renewal sweep now, optionally as of another instant (demos, tests)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi import APIRouter, Depends, Request

from services.billing.auth import require_admin
from services.billing.errors import NotInProduction
from services.billing.openapi import problem_responses
from services.billing.renewals import service
from services.billing.renewals.schemas import RenewalRunIn, RenewalRunOut
from services.billing.runtime import Billing

router = APIRouter(prefix="/admin/renewals", tags=["admin"], dependencies=[Depends(require_admin)])


@router.post(
    "/run",
    response_model=RenewalRunOut,
    responses=problem_responses(401, 403, 422),
    summary="Run one renewal sweep now and report what it did",
)
async def run_renewals(request: Request, body: RenewalRunIn | None = None) -> dict[str, Any]:
    billing: Billing = request.app.state.billing
    at = body.at if body is not None else None
    if at is not None and billing.settings.is_production:
        raise NotInProduction("running renewals at another instant is refused in production")
    report = await service.run_sweep(billing, at.astimezone(UTC) if at else billing.clock.now())
    return report.wire()
