"""Charges into platform revenue and refunds that can never exceed them."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from support.factories import AUDIT_KEY, books, main, make_core, new_holder

from services.payment_tee.core import batch_repository as batch_repo
from services.payment_tee.core.audit import verify_audit_chain
from services.payment_tee.core.commands import CancelChargeCommand, ChargeCommand, RefundCommand
from services.payment_tee.core.errors import (
    ChargeCancelled,
    IdempotencyKeyReused,
    InsufficientFunds,
    ReceiptNotFound,
    RefundExceedsCharge,
)


def charge(core, owner, amount, key=None):
    return core.charge(
        ChargeCommand(
            main(owner), amount, key or uuid.uuid4().hex, "subscription", "billing", "billing"
        )
    )


def refund(core, charge_id, amount, key=None):
    return core.refund(
        RefundCommand(uuid.UUID(charge_id), amount, key or uuid.uuid4().hex, "billing", "billing")
    )


def test_charge_then_partial_refunds_up_to_the_charge(db, core):
    alice = new_holder(core, balance=10_000)
    c = charge(core, alice, 2_900).receipt
    assert (c.kind, c.to) == ("charge", "platform:revenue:subscription")
    assert core.balance(alice).available == 7_100
    refund(core, c.payment_id, 1_000)
    refund(core, c.payment_id, 1_900)
    with pytest.raises(RefundExceedsCharge):
        refund(core, c.payment_id, 1)
    assert core.balance(alice).available == 10_000
    books(db).assert_balanced()


def test_charge_needs_the_money(db, core):
    alice = new_holder(core, balance=100)
    with pytest.raises(InsufficientFunds):
        charge(core, alice, 101)


def test_refund_of_something_that_is_not_a_charge_is_not_found(db, core):
    new_holder(core, balance=100)
    with pytest.raises(ReceiptNotFound):
        refund(core, str(uuid.uuid4()), 1)


def test_charges_are_idempotent(db, core):
    alice = new_holder(core, balance=10_000)
    a = charge(core, alice, 500, key="renewal-2026-03")
    b = charge(core, alice, 500, key="renewal-2026-03")
    assert b.replayed and a.receipt == b.receipt
    assert core.balance(alice).available == 9_500


def test_concurrent_refunds_never_exceed_the_charge(db):
    cores = [make_core(db) for _ in range(3)]
    try:
        alice = new_holder(cores[0], balance=10_000)
        c = charge(cores[0], alice, 1_000).receipt
        start = threading.Barrier(9)

        def attempt(i):
            start.wait()
            try:
                return refund(cores[i % 3], c.payment_id, 300)
            except RefundExceedsCharge:
                return None

        with ThreadPoolExecutor(9) as pool:
            results = list(pool.map(attempt, range(9)))
        assert sum(r is not None for r in results) == 3  # 3 x 300 <= 1000 < 4 x 300
        assert cores[0].balance(alice).available == 9_900
        books(db).assert_balanced()
    finally:
        for co in cores:
            co.close()


def cancel(core, owner, key):
    return core.cancel_charge(CancelChargeCommand(main(owner), key, "billing", "billing"))


def test_cancelling_a_charge_that_never_posted_refuses_it_forever(db, core):
    alice = new_holder(core, balance=10_000)
    first = cancel(core, alice, "renewal-2026-04")
    assert (first.cancelled, first.receipt) == (True, None)
    assert cancel(core, alice, "renewal-2026-04") == first  # cancelling again says the same
    with pytest.raises(ChargeCancelled):
        charge(core, alice, 500, key="renewal-2026-04")
    assert core.balance(alice).available == 10_000
    with db.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT idempotency_key, actor FROM ledger.cancelled_charges")
        ).all()
        actions = conn.execute(
            sa.text("SELECT action FROM ledger.audit_log WHERE action = 'charge.cancelled'")
        ).all()
    assert rows == [("renewal-2026-04", "billing")]
    assert len(actions) == 1  # the second cancel wrote nothing
    with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
        conn.execute(sa.text("DELETE FROM ledger.cancelled_charges"))  # forever means forever
    with db.connect() as conn:
        assert verify_audit_chain(conn, AUDIT_KEY).ok
    books(db).assert_balanced()


def test_cancelling_a_charge_that_posted_answers_with_its_receipt(db, core):
    alice = new_holder(core, balance=10_000)
    posted = charge(core, alice, 700, key="renewal-2026-05").receipt
    found = cancel(core, alice, "renewal-2026-05")
    assert (found.cancelled, found.receipt) == (False, posted)
    # the charge stands and can still be replayed; nothing was cancelled
    again = charge(core, alice, 700, key="renewal-2026-05")
    assert again.replayed and again.receipt == posted
    assert core.balance(alice).available == 9_300
    books(db).assert_balanced()


def test_a_key_used_by_another_kind_of_posting_is_not_a_charge_to_cancel(db, core):
    alice = new_holder(core, balance=10_000)
    posted = charge(core, alice, 700, key="renewal-2026-06").receipt
    refund(core, posted.payment_id, 100, key="refund-2026-06")
    with pytest.raises(IdempotencyKeyReused):
        cancel(core, alice, "refund-2026-06")


def _race_charge_and_cancel(cores, owner, cancel_owner, key):
    """Charge `owner` on one core and cancel the key (naming `cancel_owner`) on the
    other, released together. (charge receipt or None, cancellation or None)."""
    start = threading.Barrier(2)

    def do_charge():
        start.wait()
        try:
            return charge(cores[0], owner, 100, key=key).receipt
        except ChargeCancelled:
            return None

    def do_cancel():
        start.wait()
        try:
            return cancel(cores[1], cancel_owner, key)
        except IdempotencyKeyReused:
            return None  # the charge posted first, and it is not on `cancel_owner`

    with ThreadPoolExecutor(2) as pool:
        charging, cancelling = pool.submit(do_charge), pool.submit(do_cancel)
        return charging.result(), cancelling.result()


def test_charge_racing_its_cancellation_either_posts_and_is_reported_or_never_posts(db):
    cores = [make_core(db) for _ in range(2)]
    try:
        for _ in range(20):
            owner = new_holder(cores[0], balance=1_000)
            posted, outcome = _race_charge_and_cancel(cores, owner, owner, f"race-{owner}")
            available = cores[0].balance(owner).available
            if outcome.cancelled:
                assert posted is None and available == 1_000
            else:
                assert posted is not None and outcome.receipt == posted and available == 900
        books(db).assert_balanced()
    finally:
        for co in cores:
            co.close()


def test_a_cancel_naming_another_account_still_orders_against_the_charge(db):
    """Each side locks its own holder; the key lock is what keeps both from winning."""
    cores = [make_core(db) for _ in range(2)]
    try:
        for _ in range(20):
            owner, other = new_holder(cores[0], balance=1_000), new_holder(cores[0])
            posted, outcome = _race_charge_and_cancel(cores, owner, other, f"cross-{owner}")
            if posted is None:
                assert outcome is not None and outcome.cancelled
                assert cores[0].balance(owner).available == 1_000
            else:
                assert outcome is None and cores[0].balance(owner).available == 900
        books(db).assert_balanced()
    finally:
        for co in cores:
            co.close()


def test_charge_key_locks_are_ordered_and_only_for_charge_keys():
    assert batch_repo.charge_key_locks([]) == ""
    locks = batch_repo.charge_key_locks([("billing", "b-key"), ("billing", "a-key")] * 2)
    ids = [int(s.split(",")[1].rstrip(");")) for s in locks.split(";") if s]
    assert len(ids) == 2 and ids == sorted(ids)
