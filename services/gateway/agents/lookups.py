"""Who is calling, who is being paid: concurrent lookups share one round trip.

Before a payment reaches the ledger the gateway asks PostgreSQL two things:
whose API key is this, and who is the recipient. Caches answer repeat callers
and recipients, but a platform with many agents misses them most of the time,
and asked one by one each question costs a pool checkout, a round trip and a
statement of its own; in the transfer benchmark (10,000 agents) that was more
CPU, in the gateway and in PostgreSQL, than the posting itself.

`AgentLookups` asks them together, the way the payment core batches postings:
the first question on an idle event loop starts a round, every question asked
before that round's statement is sent joins it, and questions asked while it
is in flight make up the next round. One statement answers a whole round
(`repository.lookup_agents`). Under light load a round is a single question
and goes at once; under load rounds grow by themselves.

A failed round fails every question in it (the caller sees the database error
as before); the next round starts afresh. A caller that goes away does not
disturb the others waiting on the same answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool

from services.gateway.agents import repository as repo
from services.gateway.agents.repository import AgentAnswers, AgentQuestions, AgentRow

LOOKUP_ROUNDS = Counter(
    "sealpay_agent_lookup_rounds_total", "Statements sent to answer agent lookups."
)
LOOKUP_QUESTIONS = Counter(
    "sealpay_agent_lookup_questions_total",
    "Agent lookups (API key, recipient id or name) answered by those statements.",
)

Waiters = dict[Any, list[asyncio.Future[Any]]]


@dataclass
class _Round:
    """The questions of one round, each with the callers waiting on it."""

    key_hashes: Waiters = field(default_factory=dict)
    ids: Waiters = field(default_factory=dict)
    names: Waiters = field(default_factory=dict)

    def questions(self) -> AgentQuestions:
        return AgentQuestions(list(self.key_hashes), list(self.ids), list(self.names))

    def count(self) -> int:
        return len(self.key_hashes) + len(self.ids) + len(self.names)

    def answer(self, answers: AgentAnswers) -> None:
        _settle(self.key_hashes, lambda q, f: f.set_result(answers.by_key_hash.get(q)))
        _settle(self.ids, lambda q, f: f.set_result(answers.by_id.get(q)))
        _settle(self.names, lambda q, f: f.set_result(answers.by_name.get(q)))

    def fail(self, error: Exception) -> None:
        for waiters in (self.key_hashes, self.ids, self.names):
            _settle(waiters, lambda _, f: f.set_exception(error))

    def cancel(self) -> None:
        for waiters in (self.key_hashes, self.ids, self.names):
            _settle(waiters, lambda _, f: f.cancel())


def _settle(waiters: Waiters, settle: Callable[[Any, asyncio.Future[Any]], object]) -> None:
    for question, futures in waiters.items():
        for future in futures:
            if not future.done():  # a cancelled caller has gone; the others still wait
                settle(question, future)


class AgentLookups:
    """Coalesces agent lookups per event loop into one statement per round."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._next: dict[asyncio.AbstractEventLoop, _Round] = {}
        self._draining: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self.rounds = 0  # statements sent (also exported as a metric)
        self.questions = 0

    async def by_key_hash(self, key_hash: bytes) -> tuple[AgentRow, bytes] | None:
        """The agent holding the unrevoked key with this hash, and the stored hash."""
        found: tuple[AgentRow, bytes] | None = await self._ask("key_hashes", key_hash)
        return found

    async def by_id(self, agent_id: uuid.UUID) -> AgentRow | None:
        found: AgentRow | None = await self._ask("ids", agent_id)
        return found

    async def by_name(self, name: str) -> AgentRow | None:
        """Case-insensitive, as names are unique regardless of case."""
        found: AgentRow | None = await self._ask("names", name)
        return found

    async def _ask(self, kind: str, question: Any) -> Any:
        loop = asyncio.get_running_loop()
        next_round = self._next.get(loop)
        if next_round is None:
            next_round = self._next[loop] = _Round()
        future: asyncio.Future[Any] = loop.create_future()
        waiters: Waiters = getattr(next_round, kind)
        waiters.setdefault(question, []).append(future)
        if loop not in self._draining:
            # Kept here so the task cannot be garbage-collected mid-round.
            self._draining[loop] = loop.create_task(self._drain(loop), name="agent-lookups")
        return await future

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """Answer rounds until none is waiting, then stop (no task outlives the work)."""
        try:
            while (current := self._next.pop(loop, None)) is not None:
                try:
                    answers = await self._answer(current)
                except Exception as exc:
                    current.fail(exc)
                except BaseException:  # cancelled (the loop is shutting down)
                    current.cancel()
                    raise
                else:
                    current.answer(answers)
        finally:
            self._draining.pop(loop, None)
            stranded = self._next.pop(loop, None)
            if stranded is not None:  # only when cancelled mid-round
                stranded.cancel()

    async def _answer(self, current: _Round) -> AgentAnswers:
        count = current.count()
        self.rounds += 1
        self.questions += count
        LOOKUP_ROUNDS.inc()
        LOOKUP_QUESTIONS.inc(count)
        async with self._pool.connection() as conn:
            return await repo.lookup_agents(conn, current.questions())
