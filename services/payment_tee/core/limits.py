"""Calendar months (UTC) for the free tier's monthly allowance of outgoing transfers.

The allowance itself is checked in `transfers.PostTransfer.decide` against the
counter read under the holder's lock, and the counter is incremented in the
same transaction: only transfers that post are counted, and no two concurrent
attempts can both take the last slot.
"""

from __future__ import annotations

from datetime import date, datetime


def month_of(at: datetime) -> date:
    return date(at.year, at.month, 1)
