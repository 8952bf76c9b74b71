"""Billing periods: calendar-month anniversaries of the subscription's anchor.

Period n (n = 1, 2, ...) is [anchor + (n-1) months, anchor + n months), where
"anchor + k months" keeps the anchor's day of month and time of day, clamped
to the last day of the target month. Each end is computed from the anchor,
never from the previous end, so a clamped month does not shift the anchor:
Jan 31 -> Feb 29 (leap year; Feb 28 otherwise) -> Mar 31 -> Apr 30 -> May 31.
All instants are UTC.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime


def add_months(anchor: datetime, months: int) -> datetime:
    """The anchor's day and time, `months` calendar months later, clamped to month end."""
    if anchor.tzinfo is None:
        raise ValueError("periods are computed on timezone-aware UTC instants")
    anchor = anchor.astimezone(UTC)
    year, month_index = divmod(anchor.month - 1 + months, 12)
    year += anchor.year
    month = month_index + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_bounds(anchor: datetime, cycle: int) -> tuple[datetime, datetime]:
    """[start, end) of period `cycle` (1-based) of a subscription anchored at `anchor`."""
    if cycle < 1:
        raise ValueError("cycles start at 1")
    return add_months(anchor, cycle - 1), add_months(anchor, cycle)


def whole_seconds(start: datetime, end: datetime) -> int:
    """Whole seconds from start to end, rounded down; negative spans count as 0."""
    delta = end - start
    seconds = delta.days * 86_400 + delta.seconds
    return max(0, seconds)


def remaining_seconds(now: datetime, end: datetime, covered_seconds: int) -> int:
    """Seconds left until `end` (rounded down), clamped to [0, covered_seconds]."""
    return min(covered_seconds, whole_seconds(now, end))
