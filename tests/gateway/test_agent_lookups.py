"""Agent lookups (API keys, recipients) asked together share one statement, each
caller gets exactly its own answer, and a failed round fails only its callers."""

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg_pool import AsyncConnectionPool

from services.common.database import libpq_url
from services.gateway.agents.lookups import AgentLookups
from services.gateway.agents.repository import AGENT_SESSION_OPTIONS, LOOKUP_AGENTS

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@pytest.fixture
def agents(db) -> dict[str, uuid.UUID]:
    """alice and bob with live keys, carol whose only key is revoked."""
    ids = {name: uuid.uuid4() for name in ("alice", "Bob", "carol")}
    with db.begin() as conn:
        for name, agent_id in ids.items():
            conn.execute(
                sa.text("INSERT INTO gateway.agents (id, name, created_at) VALUES (:i, :n, :t)"),
                {"i": agent_id, "n": name, "t": NOW},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO gateway.api_keys (id, agent_id, key_hash, prefix, created_at, "
                    "revoked_at) VALUES (:k, :a, :h, 'sk_', :t, :r)"
                ),
                {
                    "k": uuid.uuid4(),
                    "a": agent_id,
                    "h": _hash(f"key-{name}"),
                    "t": NOW,
                    "r": NOW if name == "carol" else None,
                },
            )
    return ids


def _with_lookups(
    url: str,
    work: Callable[[AgentLookups, AsyncConnectionPool], Awaitable[Any]],
    connections: int = 2,
) -> Any:
    async def run() -> Any:
        pool = AsyncConnectionPool(
            libpq_url(url),
            min_size=1,
            max_size=connections,
            kwargs={"autocommit": True, "options": AGENT_SESSION_OPTIONS},
            open=False,
        )
        await pool.open()
        try:
            return await work(AgentLookups(pool), pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def test_questions_asked_together_share_one_statement_and_get_their_own_answers(
    database_url, agents
):
    async def work(lookups: AgentLookups, _: AsyncConnectionPool) -> tuple[list[Any], int, int]:
        answers = await asyncio.gather(
            lookups.by_key_hash(_hash("key-alice")),
            lookups.by_key_hash(_hash("key-Bob")),
            lookups.by_key_hash(_hash("key-carol")),  # revoked
            lookups.by_key_hash(_hash("no-such-key")),
            lookups.by_id(agents["carol"]),
            lookups.by_id(uuid.uuid4()),
            lookups.by_name("ALICE"),
            lookups.by_name("bob"),
            lookups.by_name("nobody"),
            lookups.by_name("alice'; DROP TABLE gateway.agents; --"),
            lookups.by_key_hash(_hash("key-alice")),  # the same question twice
        )
        return answers, lookups.rounds, lookups.questions

    answers, rounds, questions = _with_lookups(database_url, work)
    alice, bob, revoked, unknown_key, carol, unknown_id, *by_name, again = answers
    assert alice is not None and alice[0].id == agents["alice"]
    assert alice[1] == _hash("key-alice")
    assert bob is not None and bob[0].name == "Bob"
    assert revoked is None and unknown_key is None
    assert carol is not None and carol.id == agents["carol"] and carol.name == "carol"
    assert unknown_id is None
    assert [row.id if row else None for row in by_name] == [
        agents["alice"],
        agents["Bob"],
        None,
        None,
    ]
    assert again == alice
    # eleven questions, ten of them distinct, went out as one statement
    assert (rounds, questions) == (1, 10)


def test_questions_asked_while_a_round_is_in_flight_make_up_the_next_round(database_url, agents):
    async def work(lookups: AgentLookups, _: AsyncConnectionPool) -> tuple[Any, ...]:
        first = asyncio.create_task(lookups.by_name("alice"))
        while lookups.rounds == 0:  # until the first round has been sent
            await asyncio.sleep(0)
        later = await asyncio.gather(*(lookups.by_name(n) for n in ("bob", "carol", "nobody")))
        return await first, later, lookups.rounds, lookups.questions

    first, later, rounds, questions = _with_lookups(database_url, work)
    assert first.id == agents["alice"]
    assert [row.id if row else None for row in later] == [agents["Bob"], agents["carol"], None]
    assert (rounds, questions) == (2, 4)


def test_a_failed_round_fails_its_callers_and_the_next_round_is_answered(database_url, agents):
    async def work(lookups: AgentLookups, pool: AsyncConnectionPool) -> tuple[Any, ...]:
        async with pool.connection() as conn:  # the pool's one connection
            pid = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        killer = await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True)
        await killer.execute("SELECT pg_terminate_backend(%s)", pid)
        await killer.close()
        failed = await asyncio.gather(
            lookups.by_name("alice"), lookups.by_id(agents["Bob"]), return_exceptions=True
        )
        return failed, await lookups.by_name("alice")

    failed, recovered = _with_lookups(database_url, work, connections=1)
    assert len(failed) == 2 and all(isinstance(f, psycopg.OperationalError) for f in failed)
    assert failed[0] is failed[1]  # one statement failed, once, for both
    assert recovered.id == agents["alice"]


def test_a_caller_that_goes_away_does_not_disturb_the_others(database_url, agents):
    async def work(lookups: AgentLookups, _: AsyncConnectionPool) -> tuple[Any, ...]:
        leaving = asyncio.create_task(lookups.by_key_hash(_hash("key-alice")))
        staying = asyncio.create_task(lookups.by_key_hash(_hash("key-alice")))
        await asyncio.sleep(0)
        leaving.cancel()
        return await asyncio.gather(leaving, staying, return_exceptions=True)

    leaving, staying = _with_lookups(database_url, work)
    assert isinstance(leaving, asyncio.CancelledError)
    assert staying[0].id == agents["alice"]


def test_a_round_cut_short_by_shutdown_cancels_its_callers_and_leaves_no_task(database_url, agents):
    async def work(lookups: AgentLookups, _: AsyncConnectionPool) -> tuple[Any, ...]:
        asking = [asyncio.create_task(lookups.by_name(n)) for n in ("alice", "bob")]
        while lookups.rounds == 0:  # the round is in flight
            await asyncio.sleep(0)
        lookups._draining[asyncio.get_running_loop()].cancel()  # as a loop shutdown does
        cut = await asyncio.gather(*asking, return_exceptions=True)
        left_running = dict(lookups._draining)
        return cut, left_running, await lookups.by_name("carol")

    cut, left_running, afterwards = _with_lookups(database_url, work)
    assert all(isinstance(c, asyncio.CancelledError) for c in cut)
    assert left_running == {}
    assert afterwards.id == agents["carol"]


def test_the_lookup_plan_probes_unique_indexes_only(database_url, agents):
    """The gateway's pool runs the generic plan (AGENT_SESSION_OPTIONS), made once
    per connection, perhaps while the tables are tiny (as here, three agents): it
    must be index probes, never a scan that grows with the number of agents."""
    params = LOOKUP_AGENTS.replace("%(key_hashes)s", "$1")
    params = params.replace("%(ids)s", "$2").replace("%(names)s", "$3")
    with psycopg.connect(
        libpq_url(database_url), autocommit=True, options=AGENT_SESSION_OPTIONS
    ) as conn:
        conn.execute(f"PREPARE lookup AS {params}")
        plan = "\n".join(
            row[0]
            for row in psycopg.ClientCursor(conn).execute(
                "EXPLAIN EXECUTE lookup(%s::bytea[], %s::uuid[], %s::text[])",
                ([_hash("key-alice")], [agents["Bob"]], ["carol"]),
            )
        )
    assert "Seq Scan" not in plan and "Hash" not in plan, plan
    assert plan.count("Index") >= 4, plan
