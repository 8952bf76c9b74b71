"""Integer money for billing: proration, conversion and refunds, each rounding named.

* Proration (USD cents): `prorate_usd_cents` rounds half up to the cent.
* Conversion (USD cents -> the asset's minor units): `usd_cents_to_minor`
  rounds half up, exactly, from the rate as an integer ratio.
* Refunds (asset minor units): `refund_share` rounds down (floor), so a refund
  never exceeds what was paid for the unused part.

No floats anywhere: rates are `Decimal`s and become integer ratios here.
"""

from __future__ import annotations

from decimal import Decimal

from services.payment_tee.core.money import round_half_up_div

CENTS_PER_USD = 100


def floor_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded down, for numerator >= 0 and denominator > 0."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("floor_div expects numerator >= 0 and denominator > 0")
    return numerator // denominator


def rate_ratio(usd_per_unit: Decimal) -> tuple[int, int]:
    """The rate as (numerator, denominator) integers; refuses non-positive or non-finite."""
    if not usd_per_unit.is_finite() or usd_per_unit <= 0:
        raise ValueError(f"a rate must be a positive finite decimal, not {usd_per_unit}")
    return usd_per_unit.as_integer_ratio()


def usd_cents_to_minor(usd_cents: int, usd_per_unit: Decimal, decimals: int) -> int:
    """USD cents -> asset minor units at `usd_per_unit` USD per whole unit, half up.

    minor = usd_cents * 10**decimals / (100 * rate); with rate = p/q that is
    usd_cents * 10**decimals * q / (100 * p), divided once, exactly.
    """
    if usd_cents < 0:
        raise ValueError("usd_cents must not be negative")
    p, q = rate_ratio(usd_per_unit)
    return round_half_up_div(usd_cents * 10**decimals * q, CENTS_PER_USD * p)


def prorate_usd_cents(price_delta_cents: int, remaining_seconds: int, period_seconds: int) -> int:
    """The part of a period's price difference owed for the seconds left, half up to the cent."""
    if price_delta_cents < 0 or not 0 <= remaining_seconds <= period_seconds:
        raise ValueError("proration needs delta >= 0 and 0 <= remaining <= period")
    return round_half_up_div(price_delta_cents * remaining_seconds, period_seconds)


def refund_share(
    paid: int, slice_num: int, slice_den: int, remaining_seconds: int, covered_seconds: int
) -> int:
    """What to give back of `paid` (any unit): the `slice_num / slice_den` part of the
    price level it bought, for `remaining_seconds` of the `covered_seconds` it
    covered; rounded down. Never more than `paid`."""
    if slice_den <= 0 or covered_seconds <= 0:
        return 0
    if not 0 <= slice_num <= slice_den or not 0 <= remaining_seconds <= covered_seconds:
        raise ValueError("refund_share needs 0 <= slice <= level and 0 <= remaining <= covered")
    return floor_div(paid * slice_num * remaining_seconds, slice_den * covered_seconds)
