"""An operation whose caller gave up before its batch started is never decided.

The TEE's gRPC handler is cancelled when its deadline passes; the gateway then
answers 503 or falls back to the in-process core, which may refuse. An
operation left queued in the TEE would otherwise post later, under a key whose
request the client was told had moved nothing (or had been refused)."""

import asyncio

import pytest
import sqlalchemy as sa
from support.factories import books, new_holder, transfer_cmd

from services.payment_tee.core.transfers import PostTransfer


def test_an_operation_abandoned_while_queued_never_posts(db, core):
    alice, bob = new_holder(core, balance=100_000), new_holder(core)

    async def scenario(hold: sa.Connection) -> None:
        # The first batch waits in flight on alice's holder row, locked here.
        first = asyncio.create_task(
            core.submit_async(PostTransfer(transfer_cmd(alice, bob, 1_000)))
        )
        await asyncio.sleep(0.3)
        # The second waits in the queue behind it; its caller gives up.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                core.submit_async(PostTransfer(transfer_cmd(alice, bob, 2_000, key="given-up-1"))),
                timeout=0.3,
            )
        hold.commit()  # the first batch goes on
        assert not (await first).replayed
        # A later operation is served: the abandoned one was dropped, not stuck.
        after = await core.submit_async(PostTransfer(transfer_cmd(alice, bob, 3_000)))
        assert not after.replayed
        await core.aclose()

    with db.connect() as hold:
        hold.execute(
            sa.text("SELECT 1 FROM ledger.holders WHERE owner_id = :a FOR UPDATE"), {"a": alice}
        )
        asyncio.run(scenario(hold))

    with db.connect() as conn:
        given_up = conn.execute(
            sa.text("SELECT count(*) FROM ledger.entries WHERE idempotency_key = 'given-up-1'")
        ).scalar_one()
    assert given_up == 0
    assert core.balance(alice).available == 100_000 - 1_000 - 3_000
    books(db).assert_balanced()
