"""The money math, at its edges: conversion and proration half up, refunds floored.

The oracle is exact `Fraction` arithmetic, independent of the code under test.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from services.billing.downgrades.service import refund_shares, target_level
from services.billing.invoices.repository import Invoice
from services.billing.money import prorate_usd_cents, refund_share, usd_cents_to_minor
from services.billing.plans.repository import Plan
from services.billing.subscriptions.repository import Subscription
from services.billing.upgrades.quotes import UpgradeTerms, upgrade_terms


def half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


cents = st.integers(min_value=0, max_value=10_000_000)
rates = st.decimals(min_value=Decimal("1"), max_value=Decimal("100000"), places=8, allow_nan=False)


@given(cents, rates, st.sampled_from([8, 12]))
@example(1, Decimal("150.00"), 12)
@example(2900, Decimal("150.00"), 12)
@example(99_900, Decimal("60000"), 8)
def test_conversion_is_exact_half_up(usd_cents, rate, decimals):
    expected = half_up(Fraction(usd_cents, 100) / Fraction(rate) * 10**decimals)
    assert usd_cents_to_minor(usd_cents, rate, decimals) == expected


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**6))
def test_conversion_rounds_exact_halves_up_and_just_below_halves_down(whole, denominator):
    # A rate chosen so the exact result is whole + 1/2: 1 cent at rate r gives
    # 10**d / (100 r) units; pick r = 10**d / (100 (whole + 1/2)).
    rate = Decimal(10**8) / Decimal(100) / (Decimal(whole) + Decimal("0.5"))
    exact = Fraction(1, 100) / Fraction(rate) * 10**8
    result = usd_cents_to_minor(1, rate, 8)
    assert result == half_up(exact)
    if exact.denominator == 2:
        assert result == whole + 1  # a true half rounds up
    assert abs(Fraction(result) - exact) <= Fraction(1, 2)


@pytest.mark.parametrize("bad", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_conversion_refuses_a_rate_that_is_not_positive_and_finite(bad):
    with pytest.raises(ValueError):
        usd_cents_to_minor(100, bad, 12)


@given(
    st.integers(min_value=0, max_value=10_000_000),
    st.integers(min_value=1, max_value=31 * 86_400),
    st.data(),
)
def test_proration_is_half_up_to_the_cent_and_never_above_the_difference(delta, period, data):
    remaining = data.draw(st.integers(min_value=0, max_value=period))
    charged = prorate_usd_cents(delta, remaining, period)
    assert charged == half_up(Fraction(delta * remaining, period))
    assert 0 <= charged <= delta
    assert prorate_usd_cents(delta, period, period) == delta
    assert prorate_usd_cents(delta, 0, period) == 0


def test_proration_half_cent_edges():
    # 1 cent over 2 seconds with 1 left: exactly half a cent, rounds up.
    assert prorate_usd_cents(1, 1, 2) == 1
    # 1 cent over 3 seconds with 1 left: a third, rounds down.
    assert prorate_usd_cents(1, 1, 3) == 0
    # 97,000 cents, 1,209,600 of 2,419,200 seconds left: exactly half.
    assert prorate_usd_cents(97_000, 1_209_600, 2_419_200) == 48_500


@given(
    st.integers(min_value=0, max_value=2**53 - 1),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=31 * 86_400),
    st.data(),
)
def test_refund_share_is_floored_and_never_exceeds_what_was_paid(paid, span, covered, data):
    part = data.draw(st.integers(min_value=0, max_value=span))
    remaining = data.draw(st.integers(min_value=0, max_value=covered))
    refund = refund_share(paid, part, span, remaining, covered)
    exact = Fraction(paid * part * remaining, span * covered)
    assert refund == int(exact)  # floor
    assert 0 <= refund <= paid
    assert refund <= exact


# --- an upgrade, then a downgrade in the same period, never yields money -------------------

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 4, 1, tzinfo=UTC)  # a 31-day period
PERIOD_SECONDS = int((T1 - T0).total_seconds())
FREE = Plan("free", "Free", 0, 0, 100, 30, T0)
PRO = Plan("pro", "Pro", 10, 2_900, None, 10, T0)
ENTERPRISE = Plan("enterprise", "Enterprise", 20, 99_900, None, 10, T0)


def active(plan: Plan, paid_level: int) -> Subscription:
    return Subscription(
        id=uuid.UUID(int=1),
        agent_id=uuid.UUID(int=2),
        plan_code=plan.code,
        status="active",
        anchor_at=T0,
        cycle=1,
        current_period_start=T0,
        current_period_end=T1,
        period_price_usd_cents=paid_level,
        scheduled_plan_code=None,
        consecutive_failures=0,
        next_attempt_at=None,
        grace_until=None,
        created_at=T0,
        updated_at=T0,
        ended_at=None,
    )


def paid_invoice(terms: UpgradeTerms, amount_minor: int) -> Invoice:
    return Invoice(
        id=uuid.uuid4(),
        agent_id=uuid.UUID(int=2),
        subscription_id=uuid.UUID(int=1),
        cycle=1,
        kind=terms.kind,
        status="paid",
        plan_code="x",
        usd_cents=terms.usd_cents,
        asset="XMR",
        amount_minor=amount_minor,
        rate_value=Decimal(1),
        rate_source="test",
        rate_fetched_at=T0,
        rate_stale=False,
        period_start=terms.period_start,
        period_end=terms.period_end,
        covered_seconds=terms.covered_seconds,
        level_from_usd_cents=terms.level_from_usd_cents,
        level_to_usd_cents=terms.level_to_usd_cents,
        level_top_usd_cents=terms.level_to_usd_cents,
        refunded_minor=0,
        charge_scope="s",
        charge_key="k",
        charge_id=uuid.uuid4(),
        receipt=None,
        attempts=1,
        last_attempt_at=T0,
        last_error=None,
        created_at=T0,
        paid_at=T0,
        voided_at=None,
    )


@given(
    st.integers(min_value=0, max_value=PERIOD_SECONDS),
    st.integers(min_value=0, max_value=PERIOD_SECONDS),
    rates,
    rates,
    st.sampled_from([FREE, PRO]),
)
def test_upgrade_then_downgrade_in_the_same_period_never_yields_money(
    upgrade_after, downgrade_after, rate_for_pro, rate_for_enterprise, back_to
):
    """Pro bought at T0, enterprise at t1, back down at t2 >= t1: each refund is at
    most what its invoice paid (in the asset, as paid: the rate at t2 plays no
    part), and going back to pro keeps pro's own payment."""
    assume(upgrade_after <= downgrade_after)
    t1 = T0 + timedelta(seconds=upgrade_after)
    t2 = T0 + timedelta(seconds=downgrade_after)
    pro_terms = upgrade_terms(FREE, None, PRO, T0)
    pro = paid_invoice(pro_terms, usd_cents_to_minor(2_900, rate_for_pro, 12))
    ent_terms = upgrade_terms(PRO, active(PRO, 2_900), ENTERPRISE, t1)
    assert ent_terms.kind == "proration"
    assert ent_terms.covered_seconds == PERIOD_SECONDS - upgrade_after
    charged = usd_cents_to_minor(ent_terms.usd_cents, rate_for_enterprise, 12)
    enterprise = paid_invoice(ent_terms, charged)
    after = active(ENTERPRISE, ent_terms.level_to_usd_cents)

    shares = {
        s.invoice.id: s for s in refund_shares([enterprise, pro], target_level(back_to, after), t2)
    }

    given_back = shares[enterprise.id].amount_minor if enterprise.id in shares else 0
    assert 0 <= given_back <= charged
    unused = PERIOD_SECONDS - downgrade_after
    if ent_terms.covered_seconds:
        assert given_back <= Fraction(charged * unused, ent_terms.covered_seconds)
    for share in shares.values():
        assert share.amount_minor <= share.invoice.amount_minor
    if back_to is PRO:
        assert pro.id not in shares
    else:
        assert shares[pro.id].amount_minor <= pro.amount_minor
