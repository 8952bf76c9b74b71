"""A charge's status, decided from what arrived at its address. Pure.

    pending    nothing received, not expired
    seen       something received, and the confirmed part is still short of
               the amount: some of it unconfirmed, or the charge not expired
               yet (the rest may still come: payers often pay in two parts).
               After the expiry an output unconfirmed for a day is taken as
               dropped and no longer holds the charge here (charges/service.py)
    confirmed  the confirmed outputs add up to exactly the amount
    overpaid   the confirmed outputs add up to more
    underpaid  expired with every output confirmed and together short
    expired    nothing received before the expiry (a later payment moves the
               charge on to seen and beyond; `paid_late` says so)

Only confirmed outputs count towards an amount, so a status reached from
confirmed outputs (confirmed, overpaid) never goes back as more arrives:
confirmations only go up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ChargeStatus(StrEnum):
    PENDING = "pending"
    SEEN = "seen"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    OVERPAID = "overpaid"
    UNDERPAID = "underpaid"


# Statuses a charge's callback_url is told about.
NOTIFIED = frozenset(
    {ChargeStatus.CONFIRMED, ChargeStatus.OVERPAID, ChargeStatus.UNDERPAID, ChargeStatus.EXPIRED}
)


@dataclass(frozen=True)
class Payment:
    amount: int
    confirmed: bool


# Statuses only the expiry decides: once one is announced, the charge is past
# its expiry for good, whatever time a later (queued) event or a skewed clock says.
EXPIRY_ANNOUNCED = frozenset({ChargeStatus.EXPIRED, ChargeStatus.UNDERPAID})


def decide_status(expected: int, payments: Sequence[Payment], *, expired: bool) -> ChargeStatus:
    if not payments:
        return ChargeStatus.EXPIRED if expired else ChargeStatus.PENDING
    confirmed = sum(p.amount for p in payments if p.confirmed)
    if confirmed > expected:
        return ChargeStatus.OVERPAID
    if confirmed == expected:
        return ChargeStatus.CONFIRMED
    if expired and all(p.confirmed for p in payments):
        return ChargeStatus.UNDERPAID
    return ChargeStatus.SEEN
