"""Time is passed in, never read deep inside business code.

Business functions take a `Clock` so tests can walk through month ends and
year ends without sleeping or patching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock tests can set and advance; always UTC-aware."""

    at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at = self.at + delta

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self.at = at.astimezone(UTC)


def rfc3339(at: datetime) -> str:
    """Microsecond RFC 3339 in UTC with a `Z`, the one timestamp format on the wire.

    Formatted by isoformat (a quarter of strftime's cost: every receipt and
    audit row on the payment path formats one), whose "+00:00" becomes "Z"."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
