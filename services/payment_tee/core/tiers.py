"""Tiers as the payment core knows them: the fee rate and the monthly limit.

Billing owns which tier an agent is on and pushes it here (`set_tier`); the
core enforces what the tier means, because the core trusts nobody.
"""

from __future__ import annotations

from enum import StrEnum

from services.payment_tee.core.errors import UnknownTier


class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


# Outgoing transfers per calendar month (UTC); None = unlimited.
MONTHLY_TRANSFER_LIMIT: dict[Tier, int | None] = {
    Tier.FREE: 100,
    Tier.PRO: None,
    Tier.ENTERPRISE: None,
}


def parse_tier(label: str) -> Tier:
    try:
        return Tier(label.strip().lower())
    except ValueError:
        raise UnknownTier(f"unknown tier {label!r}", tier=label) from None


def monthly_limit(tier: Tier) -> int | None:
    return MONTHLY_TRANSFER_LIMIT[tier]
