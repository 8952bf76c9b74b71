"""Fee rounding at the edges, and properties over the whole amount range."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.payment_tee.core.errors import FeeExceedsAmount, InvalidAmount
from services.payment_tee.core.fees import FEE_BPS, compute_fee, split_amount
from services.payment_tee.core.money import MAX_AMOUNT, round_half_up_div
from services.payment_tee.core.tiers import Tier


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [
        (1, 30, 1),  # minimum fee of one unit
        (33, 30, 1),  # 0.099 rounds to 0, raised to the minimum
        (34, 30, 1),  # 0.102
        (166, 30, 1),  # 0.498
        (167, 30, 1),  # 0.501 rounds half up to 1
        (500, 30, 2),  # 1.5 exactly: half up
        (3333, 30, 10),  # 9.999
        (3333, 10, 3),  # 3.333
        (1500, 10, 2),  # 1.5 exactly: half up
        (1499, 10, 1),  # 1.499
        (10_000, 30, 30),
        (MAX_AMOUNT, 30, 27_021_597_764_223),  # exactly 27_021_597_764_222.973
        (MAX_AMOUNT, 10, 9_007_199_254_741),  # 9_007_199_254_740.991 rounds up
    ],
)
def test_fee_rounds_half_up_with_a_minimum_of_one(amount, bps, fee):
    assert compute_fee(amount, bps) == fee


def test_a_fee_that_would_consume_the_whole_amount_is_refused():
    with pytest.raises(FeeExceedsAmount):
        split_amount(1, 30)
    assert split_amount(2, 30) == (1, 1)


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, MAX_AMOUNT + 1, "10"])
def test_amounts_must_be_positive_json_safe_integers(amount):
    with pytest.raises(InvalidAmount):
        compute_fee(amount, 30)


def test_tier_rates():
    assert FEE_BPS == {Tier.FREE: 30, Tier.PRO: 10, Tier.ENTERPRISE: 10}


@given(st.integers(min_value=2, max_value=MAX_AMOUNT), st.sampled_from([10, 30]))
def test_fee_and_net_always_add_up_to_the_amount(amount, bps):
    try:
        fee, net = split_amount(amount, bps)
    except FeeExceedsAmount:
        assert compute_fee(amount, bps) >= amount
        return
    assert fee + net == amount
    assert fee >= 1 and net >= 1
    # Within half a unit of the exact rate, except where the minimum applies.
    exact_times_2 = 2 * amount * bps
    assert fee == 1 or abs(2 * 10_000 * fee - exact_times_2) <= 10_000


@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=1, max_value=10**9))
def test_round_half_up_div_matches_the_definition(n, d):
    q = round_half_up_div(n, d)
    # q is the integer nearest n/d, ties going up: q - 1/2 <= n/d < q + 1/2
    assert 2 * n >= (2 * q - 1) * d
    assert 2 * n < (2 * q + 1) * d
