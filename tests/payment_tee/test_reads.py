"""Balances and usage as the core reads them, and its read connections under failure."""

import asyncio
import uuid
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa
from support.factories import ASSET, fund, make_core, new_holder, pay

from services.common.clock import FixedClock
from services.common.database import libpq_url
from services.payment_tee.core.errors import UnknownHolder
from services.payment_tee.core.records import AccountBalance
from services.payment_tee.core.tiers import Tier


def test_a_balance_lists_main_first_then_the_others_in_that_asset_only(db, core):
    alice = new_holder(core, balance=700)
    core.open_account(alice, "savings")
    core.open_account(alice, "ads")
    core.open_account(alice, "main", "BTC")
    fund(core, alice, 50, account="savings")
    balance = core.balance(alice)
    assert (balance.asset, balance.available, balance.pending) == (ASSET, 750, 0)
    assert balance.accounts == (
        AccountBalance("main", ASSET, 700),
        AccountBalance("ads", ASSET, 0),
        AccountBalance("savings", ASSET, 50),
    )
    assert core.balance(alice, "BTC").accounts == (AccountBalance("main", "BTC", 0),)


def test_an_asset_the_holder_has_no_account_in_reads_as_zero(db, core):
    alice = new_holder(core, balance=700)
    balance = core.balance(alice, "ETH")
    assert (balance.available, balance.accounts) == (0, ())


def test_reads_of_an_unknown_holder_are_refused(db, core):
    stranger = uuid.uuid4()
    with pytest.raises(UnknownHolder):
        core.balance(stranger)
    with pytest.raises(UnknownHolder):
        core.usage(stranger)


def test_usage_counts_this_months_outgoing_transfers_only(db):
    clock = FixedClock()
    core = make_core(db, clock)
    try:
        alice, bob = new_holder(core, balance=10**6), new_holder(core, balance=10**6)
        for _ in range(3):
            pay(core, alice, bob, 1_000)
        pay(core, bob, alice, 1_000)
        usage = core.usage(alice)
        assert (usage.tier, usage.transfers, usage.limit) == (Tier.FREE, 3, 100)
        assert usage.month == clock.now().strftime("%Y-%m")
        core.set_tier(alice, Tier.PRO, actor="test")
        clock.advance(timedelta(days=40))  # another month: its own count
        usage = core.usage(alice)
        assert (usage.tier, usage.transfers, usage.limit) == (Tier.PRO, 0, None)
    finally:
        core.close()


def test_a_read_cancelled_mid_statement_leaves_later_reads_correct(db, core):
    """A read given up while PostgreSQL still runs it (here: waiting for a table
    lock) must not leave its connection half-used for the next read."""
    alice = new_holder(core, balance=4_321)
    conninfo = libpq_url(db.url.render_as_string(hide_password=False))

    async def scenario() -> list[int]:
        locker = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        await locker.execute("BEGIN")
        await locker.execute("LOCK TABLE ledger.accounts IN ACCESS EXCLUSIVE MODE")
        # One read per read connection, all stuck behind the lock, then given up.
        stuck = [asyncio.ensure_future(core.balance_async(alice)) for _ in range(4)]
        done, _ = await asyncio.wait(stuck, timeout=0.5)
        assert not done, "a read went through an exclusive lock"
        for read in stuck:
            read.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        await locker.execute("ROLLBACK")
        await locker.close()
        try:
            answers = await asyncio.gather(*(core.balance_async(alice) for _ in range(8)))
            return [b.available for b in answers]
        finally:
            await core.aclose()

    assert asyncio.run(scenario()) == [4_321] * 8


def test_a_read_connection_the_server_dropped_is_replaced_without_an_error(db, core):
    alice = new_holder(core, balance=1_234)

    async def scenario() -> list[int]:
        try:
            first = await asyncio.gather(*(core.balance_async(alice) for _ in range(4)))
            with db.connect() as conn:  # every read connection this loop opened
                killed = conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'sealpay-payment-core' "
                        "AND datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            assert killed >= 4
            again = await asyncio.gather(*(core.balance_async(alice) for _ in range(8)))
            return [b.available for b in [*first, *again]]
        finally:
            await core.aclose()

    assert asyncio.run(scenario()) == [1_234] * 12


def test_reads_one_after_another_share_one_connection(db, core):
    alice = new_holder(core, balance=10)

    async def scenario() -> int:
        try:
            for _ in range(10):
                assert (await core.balance_async(alice)).available == 10
            with db.connect() as conn:
                return conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name = 'sealpay-payment-core' "
                        "AND datname = current_database() "
                        "AND query LIKE 'SELECT a.name%'"
                    )
                ).scalar_one()
        finally:
            await core.aclose()

    assert asyncio.run(scenario()) == 1


async def _until_waiting_on_locks(conninfo: str, count: int) -> None:
    """Until `count` core connections of this database wait for a lock (asked on
    a connection of its own: pg_stat_activity is frozen within a transaction)."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as watcher:
        while True:
            cur = await watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'sealpay-payment-core' AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
            if row is not None and row[0] >= count:
                return
            await asyncio.sleep(0.02)


def test_a_read_that_finds_every_connection_held_fails_as_unavailable(db):
    """Reads stuck without end (here: behind a table lock) hold every read
    connection; the next read gives up after `read_wait_seconds` with the
    error a database outage raises, instead of queueing for ever."""
    core = make_core(db, read_wait_seconds=0.3)
    alice = new_holder(core, balance=1)
    conninfo = libpq_url(db.url.render_as_string(hide_password=False))

    async def scenario() -> None:
        locker = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        await locker.execute("BEGIN")
        await locker.execute("LOCK TABLE ledger.accounts IN ACCESS EXCLUSIVE MODE")
        stuck = [asyncio.ensure_future(core.balance_async(alice)) for _ in range(4)]
        try:
            await _until_waiting_on_locks(conninfo, 4)  # the four hold the four connections
            with pytest.raises(psycopg.OperationalError, match="no ledger read connection"):
                await core.balance_async(alice)
        finally:
            await locker.execute("ROLLBACK")
            await locker.close()
            assert [b.available for b in await asyncio.gather(*stuck)] == [1] * 4
            await core.aclose()

    try:
        asyncio.run(scenario())
    finally:
        core.close()
