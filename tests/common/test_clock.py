"""The one wire timestamp format: microsecond RFC 3339 in UTC with a `Z`.

Receipts are signed over it, so its exact characters matter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from services.common.clock import parse_rfc3339, rfc3339


def test_utc_with_zero_padded_microseconds_and_z() -> None:
    assert rfc3339(datetime(2026, 3, 15, 12, 0, tzinfo=UTC)) == "2026-03-15T12:00:00.000000Z"
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"


def test_other_offsets_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    at = datetime(2027, 1, 1, 1, 30, 0, 999999, tzinfo=plus_two)
    assert rfc3339(at) == "2026-12-31T23:30:00.999999Z"


OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS
    )
)
def test_round_trips_and_matches_the_strftime_form(at: datetime) -> None:
    text = rfc3339(at)
    assert text == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_rfc3339(text) == at
