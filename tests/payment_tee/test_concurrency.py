"""Many threads across several cores (as several processes would be) hammering a few accounts."""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from support.factories import books, make_core, new_holder, pay

from services.payment_tee.core.errors import InsufficientFunds
from services.payment_tee.core.tiers import Tier

THREADS = 10
SECONDS = 3.0


def test_random_concurrent_transfers_keep_the_books(db):
    cores = [make_core(db) for _ in range(3)]
    try:
        holders = [new_holder(cores[0], balance=200_000, tier=Tier.PRO) for _ in range(5)]
        before = books(db).agent_total
        deadline = time.monotonic() + SECONDS
        posted: list[str] = []
        refused = 0
        errors: list[BaseException] = []
        lock = threading.Lock()

        def worker(n):
            nonlocal refused
            rng = random.Random(n)
            while time.monotonic() < deadline:
                payer, payee = rng.sample(holders, 2)
                try:
                    r = pay(cores[n % 3], payer, payee, rng.randint(2, 60_000))
                except InsufficientFunds:
                    with lock:
                        refused += 1
                    continue
                except BaseException as exc:  # deadlocks or anything else must not surface
                    errors.append(exc)
                    return
                with lock:
                    posted.append(r.receipt.payment_id)

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, range(THREADS)))

        assert errors == []
        assert len(posted) > 50, "the test did not exercise enough transfers"
        assert len(set(posted)) == len(posted), "a payment id was issued twice"
        b = books(db)
        b.assert_balanced()
        assert b.entries == len(posted) + len(holders)  # + the funding credits: none lost
        fees = before - b.agent_total  # the only money leaving agents is commission
        assert fees > 0
        with db.connect() as conn:
            import sqlalchemy as sa

            booked_fees = conn.execute(sa.text("SELECT sum(fee) FROM ledger.entries")).scalar_one()
        assert fees == booked_fees
    finally:
        for c in cores:
            c.close()
