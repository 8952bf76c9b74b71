"""Charges into platform revenue and refunds that can never exceed them."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.factories import books, main, make_core, new_holder

from services.payment_tee.core.commands import ChargeCommand, RefundCommand
from services.payment_tee.core.errors import InsufficientFunds, ReceiptNotFound, RefundExceedsCharge


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
