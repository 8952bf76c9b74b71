"""Plans are data: operators edit prices, labels, limits and fee rates.

A price edit applies to quotes and renewal invoices issued afterwards;
invoices already issued and periods already paid keep their amounts. The
payment core enforces its own fee rate and monthly limit per tier (its
`tiers.py`); billing's `monthly_transfer_limit` and `fee_bps` describe the
plan to agents and operators and must be kept in step with the core.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.billing.audit import repository as audit_repo
from services.billing.dbtypes import Conn
from services.billing.errors import InvalidRequest, NotFound
from services.billing.plans import repository as repo
from services.billing.plans.repository import Plan
from services.billing.plans.schemas import PlanPatch
from services.common.clock import rfc3339

# The seed of the initial migration; `restore_defaults` re-inserts missing ones at start.
DEFAULT_PLANS = (
    ("free", "Free", 0, 0, 100, 30),
    ("pro", "Pro", 10, 2_900, None, 10),
    ("enterprise", "Enterprise", 20, 99_900, None, 10),
)


def wire(plan: Plan) -> dict[str, Any]:
    return {
        "code": plan.code,
        "label": plan.label,
        "rank": plan.rank,
        "price_usd_cents": plan.price_usd_cents,
        "monthly_transfer_limit": plan.monthly_transfer_limit,
        "fee_bps": plan.fee_bps,
        "updated_at": rfc3339(plan.updated_at),
    }


async def patch_plan(conn: Conn, code: str, patch: PlanPatch, actor: str, now: datetime) -> Plan:
    plan = await repo.get_plan(conn, code.lower())
    if plan is None:
        raise NotFound(f"no plan {code!r}")
    fields = patch.model_fields_set
    price = patch.price_usd_cents if "price_usd_cents" in fields else plan.price_usd_cents
    if price is None:
        raise InvalidRequest("price_usd_cents cannot be null", field="price_usd_cents")
    if plan.code == "free" and price != 0:
        raise InvalidRequest("the free plan's price is 0", field="price_usd_cents")
    fee_bps = patch.fee_bps if "fee_bps" in fields else plan.fee_bps
    label = patch.label if "label" in fields else plan.label
    if fee_bps is None or label is None:
        raise InvalidRequest("label and fee_bps cannot be null")
    limit = (
        patch.monthly_transfer_limit
        if "monthly_transfer_limit" in fields
        else plan.monthly_transfer_limit
    )
    updated = await repo.update_plan(
        conn,
        plan.code,
        label=label,
        price_usd_cents=price,
        monthly_transfer_limit=limit,
        fee_bps=fee_bps,
        now=now,
    )
    assert updated is not None
    await audit_repo.append(
        conn,
        agent_id=None,
        subscription_id=None,
        action="plan.updated",
        actor=actor,
        details={"before": wire(plan), "after": wire(updated)},
        at=now,
    )
    return updated


async def restore_defaults(conn: Conn, now: datetime) -> None:
    for code, label, rank, price, limit, bps in DEFAULT_PLANS:
        await repo.insert_plan(conn, Plan(code, label, rank, price, limit, bps, now))
