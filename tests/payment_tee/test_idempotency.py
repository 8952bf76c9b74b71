"""Idempotency keys: replays return the original receipt; reuse with other parameters fails."""

import asyncio
import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.factories import books, fund, make_core, new_holder, pay, transfer_cmd

from services.payment_tee import wire
from services.payment_tee.core.errors import IdempotencyKeyReused, InsufficientFunds, InvalidRequest
from services.payment_tee.core.receipts import Receipt, verify_receipt
from services.payment_tee.core.transfers import PostTransfer


def test_replayed_transfer_returns_original_receipt(db, core):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    first = pay(core, alice, bob, 1_000, key="order-000001")
    again = pay(core, alice, bob, 1_000, key="order-000001")
    assert not first.replayed and again.replayed
    assert again.receipt == first.receipt  # same id, time, signature: byte for byte
    assert core.balance(alice).available == 99_000
    assert books(db).entries == 2


def test_same_key_with_other_parameters_is_refused(db, core):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    pay(core, alice, bob, 1_000, key="order-000002")
    with pytest.raises(IdempotencyKeyReused):
        pay(core, alice, bob, 1_001, key="order-000002")
    with pytest.raises(IdempotencyKeyReused):
        pay(core, alice, bob, 1_000, key="order-000002", memo="different")
    assert core.balance(alice).available == 99_000


def test_keys_are_scoped_per_payer(db, core):
    alice, bob = new_holder(core, balance=10_000), new_holder(core, balance=10_000)
    a = pay(core, alice, bob, 100, key="shared-key-1")
    b = pay(core, bob, alice, 100, key="shared-key-1")
    assert a.receipt.payment_id != b.receipt.payment_id and not b.replayed


def test_a_replay_replays_even_when_the_balance_no_longer_covers_it(db, core):
    alice, bob = new_holder(core, balance=1_000), new_holder(core)
    first = pay(core, alice, bob, 1_000, key="order-000003")
    again = pay(core, alice, bob, 1_000, key="order-000003")
    assert again.replayed and again.receipt.payment_id == first.receipt.payment_id


def test_a_refused_request_does_not_consume_its_key(db, core):
    alice, bob = new_holder(core, balance=500), new_holder(core)
    with pytest.raises(InsufficientFunds):
        pay(core, alice, bob, 1_000, key="order-000004")
    fund(core, alice, 1_000)
    assert not pay(core, alice, bob, 1_000, key="order-000004").replayed


def test_duplicates_in_one_batch_post_once(db, core):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)
    cmd = transfer_cmd(alice, bob, 700, key="order-000005")

    async def five_at_once():
        return await asyncio.gather(*(core.submit_async(PostTransfer(cmd)) for _ in range(5)))

    results = core._background_loop().run(five_at_once())
    assert len({r.receipt.payment_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert core.balance(alice).available == 100_000 - 700


def test_concurrent_duplicates_across_processes_post_once(db):
    """Several cores (as separate gateway processes would be) race the same key."""
    cores = [make_core(db) for _ in range(3)]
    try:
        alice, bob = new_holder(cores[0], balance=100_000), new_holder(cores[0])
        start = threading.Barrier(12)

        def attempt(i):
            start.wait()
            return pay(cores[i % 3], alice, bob, 2_500, key="order-race-01")

        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(attempt, range(12)))
        assert len({r.receipt.payment_id for r in results}) == 1
        assert sum(not r.replayed for r in results) == 1
        assert cores[0].balance(alice).available == 97_500
        assert books(db).entries == 2
        books(db).assert_balanced()
    finally:
        for c in cores:
            c.close()


def test_a_receipt_is_bound_to_its_idempotency_key_and_keeps_it_on_replay(db, core):
    alice, bob = new_holder(core, balance=10_000), new_holder(core)
    first = pay(core, alice, bob, 100, key="bound-key-0001").receipt
    assert first.idempotency_key_sha256 == hashlib.sha256(b"bound-key-0001").hexdigest()
    assert verify_receipt(first.to_wire(), core.ctx.signer.public_key_raw)
    assert pay(core, alice, bob, 100, key="bound-key-0001").receipt == first
    assert core.receipt(alice, uuid.UUID(first.payment_id)) == first


def test_a_receipt_signed_before_the_key_digest_existed_still_verifies_over_the_wire(core):
    older = core.ctx.signer.sign(
        Receipt("p-1", "hub_routing", "a", "b", "main", "main", "XMR", 100, 1, 30, 99,
                None, "posted", "2026-11-30T00:00:00.000000Z")
    )  # fmt: skip
    assert "idempotency_key_sha256" not in older.to_wire()
    carried = wire.receipt_from_pb(wire.receipt_to_pb(older))
    assert carried == older and verify_receipt(carried.to_wire())


@pytest.mark.parametrize(
    "key", ["order-000005\n", "order 000005", "short", "k" * 256, "clé-000005"]
)
def test_a_malformed_key_is_refused_before_anything_posts(db, core, key):
    """A trailing newline included: `^...$` with `re.match` once let one through."""
    alice, bob = new_holder(core, balance=10_000), new_holder(core)
    with pytest.raises(InvalidRequest) as refused:
        pay(core, alice, bob, 1_000, key=key)
    assert refused.value.details["field"] == "idempotency_key"
    assert core.balance(alice).available == 10_000 and books(db).entries == 1
