"""The period rule: calendar-month anniversaries of the anchor, clamped to month end,
each computed from the anchor (so a short month never shifts later periods)."""

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.periods import add_months, period_bounds, remaining_seconds, whole_seconds


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_jan_31_goes_to_feb_28_then_back_to_mar_31():
    anchor = utc(2026, 1, 31, 12)
    ends = [period_bounds(anchor, n)[1] for n in range(1, 5)]
    assert ends == [
        utc(2026, 2, 28, 12),
        utc(2026, 3, 31, 12),
        utc(2026, 4, 30, 12),
        utc(2026, 5, 31, 12),
    ]


def test_in_a_leap_year_jan_31_feb_29_mar_31():
    anchor = utc(2028, 1, 31, 9, 30)
    assert [period_bounds(anchor, n) for n in (1, 2)] == [
        (utc(2028, 1, 31, 9, 30), utc(2028, 2, 29, 9, 30)),
        (utc(2028, 2, 29, 9, 30), utc(2028, 3, 31, 9, 30)),
    ]


def test_year_end_rolls_into_january():
    assert add_months(utc(2026, 12, 15, 23, 59, 59), 1) == utc(2027, 1, 15, 23, 59, 59)
    assert add_months(utc(2026, 12, 31), 2) == utc(2027, 2, 28)
    assert add_months(utc(2027, 11, 30), 3) == utc(2028, 2, 29)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        add_months(datetime(2026, 1, 1), 1)


def test_seconds_are_whole_and_clamped():
    start, end = utc(2026, 2, 1), utc(2026, 3, 1)
    assert whole_seconds(start, end) == 28 * 86_400
    assert whole_seconds(end, start) == 0
    assert remaining_seconds(start - timedelta(days=3), end, 28 * 86_400) == 28 * 86_400
    assert remaining_seconds(end + timedelta(seconds=1), end, 28 * 86_400) == 0
    assert remaining_seconds(end - timedelta(seconds=1, microseconds=500), end, 99) == 1


anchors = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)


@given(anchors, st.integers(min_value=1, max_value=240))
def test_periods_tile_time_and_keep_the_anchor_day(anchor, cycle):
    start, end = period_bounds(anchor, cycle)
    next_start, _ = period_bounds(anchor, cycle + 1)
    assert start < end == next_start
    assert end.time() == anchor.time()
    last_day = calendar.monthrange(end.year, end.month)[1]
    assert end.day == min(anchor.day, last_day)
    months = (end.year - anchor.year) * 12 + end.month - anchor.month
    assert months == cycle
    assert 28 * 86_400 <= whole_seconds(start, end) <= 31 * 86_400
