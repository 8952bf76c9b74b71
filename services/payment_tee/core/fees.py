"""Tier commission on agent-to-agent transfers.

fee = max(1, round_half_up(amount * bps / 10_000)) for amount > 0; the fee is
taken out of the amount (the payee receives amount - fee), so a transfer whose
fee would consume the whole amount is refused rather than delivering nothing.
"""

from __future__ import annotations

from services.payment_tee.core.errors import FeeExceedsAmount, InvalidAmount
from services.payment_tee.core.money import BPS_DENOMINATOR, is_valid_amount, round_half_up_div
from services.payment_tee.core.tiers import Tier

FEE_BPS: dict[Tier, int] = {Tier.FREE: 30, Tier.PRO: 10, Tier.ENTERPRISE: 10}


def fee_bps_for(tier: Tier) -> int:
    return FEE_BPS[tier]


def compute_fee(amount: int, bps: int) -> int:
    """The commission in minor units; zero only when the rate itself is zero."""
    if not is_valid_amount(amount):
        raise InvalidAmount("amount must be a positive integer", amount=amount)
    if bps == 0:
        return 0
    return max(1, round_half_up_div(amount * bps, BPS_DENOMINATOR))


def split_amount(amount: int, bps: int) -> tuple[int, int]:
    """(fee, net) for a transfer of `amount`; refuses when net would be <= 0."""
    fee = compute_fee(amount, bps)
    net = amount - fee
    if net <= 0:
        raise FeeExceedsAmount(
            f"a fee of {fee} would consume the whole amount of {amount}", amount=amount, fee=fee
        )
    return fee, net
