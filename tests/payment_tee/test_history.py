"""Reading receipts: one by id for its parties only, and keyset-paginated history."""

import uuid
from datetime import timedelta

import pytest
from support.factories import make_core, new_holder, pay

from services.common.clock import FixedClock
from services.payment_tee.core.errors import InvalidRequest, ReceiptNotFound


def test_a_receipt_is_visible_to_its_payer_and_payee_only(db, core):
    alice, bob, carol = (new_holder(core, balance=10_000) for _ in range(3))
    receipt = pay(core, alice, bob, 1_000).receipt
    pid = uuid.UUID(receipt.payment_id)
    assert core.receipt(alice, pid) == receipt
    assert core.receipt(bob, pid) == receipt
    with pytest.raises(ReceiptNotFound):
        core.receipt(carol, pid)
    with pytest.raises(ReceiptNotFound):
        core.receipt(alice, uuid.uuid4())


def test_history_pages_newest_first_without_gaps_or_repeats(db):
    clock = FixedClock()
    core = make_core(db, clock)
    try:
        alice, bob = new_holder(core, balance=10**6), new_holder(core, balance=10**6)
        made = []
        for i in range(23):
            clock.advance(timedelta(seconds=1))
            payer, payee = (alice, bob) if i % 3 else (bob, alice)
            made.append(pay(core, payer, payee, 100 + i).receipt.payment_id)
        seen, cursor = [], None
        while True:
            page = core.receipts(alice, 10, cursor)
            seen += [r.payment_id for r in page.receipts]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        # 23 payments plus alice's funding credit, newest first.
        assert seen[:23] == list(reversed(made))
        assert len(seen) == 24 and len(set(seen)) == 24
    finally:
        core.close()


def test_bad_cursor_and_limit_are_validation_errors(db, core):
    alice = new_holder(core)
    with pytest.raises(InvalidRequest):
        core.receipts(alice, 10, "not-a-cursor")
    with pytest.raises(InvalidRequest):
        core.receipts(alice, 0, None)
