"""The free tier's 100 outgoing transfers per calendar month (UTC)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from support.factories import books, make_core, new_holder, pay

from services.common.clock import FixedClock
from services.payment_tee.core.errors import TierLimitReached
from services.payment_tee.core.tiers import Tier


def test_the_101st_transfer_in_a_month_is_refused(db):
    clock = FixedClock(datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
    core = make_core(db, clock)
    try:
        alice, bob = new_holder(core, balance=10**9), new_holder(core)
        for _ in range(100):
            pay(core, alice, bob, 1_000)
        with pytest.raises(TierLimitReached) as refused:
            pay(core, alice, bob, 1_000)
        assert refused.value.details == {"current_count": 100, "limit": 100, "tier": "free"}
        assert core.usage(alice).transfers == 100
        # Incoming payments are not limited.
        pay(core, bob, alice, 1_000)
        # The month boundary (UTC) resets the allowance.
        clock.set(datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
        pay(core, alice, bob, 1_000)
        assert core.usage(alice).transfers == 1
        books(db).assert_balanced()
    finally:
        core.close()


def test_refused_transfers_do_not_count(db, core):
    alice, bob = new_holder(core, balance=100), new_holder(core)
    from services.payment_tee.core.errors import InsufficientFunds

    with pytest.raises(InsufficientFunds):
        pay(core, alice, bob, 1_000)
    assert core.usage(alice).transfers == 0


def test_paid_tiers_are_unlimited(db, core):
    alice = new_holder(core, balance=10**9, tier=Tier.PRO)
    bob = new_holder(core)
    for _ in range(120):
        pay(core, alice, bob, 1_000)
    usage = core.usage(alice)
    assert (usage.transfers, usage.limit) == (120, None)


def test_concurrent_attempts_at_the_100th_let_exactly_one_through(db):
    cores = [make_core(db) for _ in range(3)]
    try:
        alice, bob = new_holder(cores[0], balance=10**9), new_holder(cores[0])
        for _ in range(99):
            pay(cores[0], alice, bob, 1_000)
        start = threading.Barrier(10)

        def attempt(i):
            start.wait()
            try:
                return pay(cores[i % 3], alice, bob, 1_000)
            except TierLimitReached:
                return None

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(attempt, range(10)))
        assert sum(r is not None for r in results) == 1
        assert cores[0].usage(alice).transfers == 100
        books(db).assert_balanced()
    finally:
        for c in cores:
            c.close()
