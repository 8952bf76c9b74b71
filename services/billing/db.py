"""The billing schema's connections: an async psycopg pool with search_path billing.

Billing's own SQL is schema-qualified; the search_path is there for
procrastinate's functions, so a job can be deferred on the same connection,
inside the same transaction, as the state change that causes it (outbox).

Transactions are owned by the request or the task (`transaction()`); money
workflows that call the payment core between two transactions hold the
agent's session advisory lock across them (`agent_session()`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import psycopg
from psycopg_pool import AsyncConnectionPool

from services.billing.customers import repository as customers_repo
from services.billing.dbtypes import Conn
from services.billing.errors import AgentBusy
from services.common.database import libpq_url


def session_options(lock_timeout_seconds: float) -> str:
    """search_path billing; how long a statement waits for a lock (the agent's
    included) before giving up; and for anything at all."""
    lock_ms = max(1, round(lock_timeout_seconds * 1000))
    return f"-c search_path=billing -c lock_timeout={lock_ms}ms -c statement_timeout=30s"


SEARCH_PATH_OPTIONS = session_options(10.0)  # procrastinate's connections


def conninfo(database_url: str) -> str:
    return libpq_url(database_url)


def agent_lock_key(agent_id: uuid.UUID) -> int:
    """A signed 64-bit advisory-lock key for one agent's billing state."""
    digest = hashlib.sha256(b"sealpay:billing:agent:" + agent_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Database:
    def __init__(
        self, database_url: str, *, max_size: int = 10, lock_timeout_seconds: float = 10.0
    ) -> None:
        self.pool = AsyncConnectionPool(
            conninfo(database_url),
            min_size=1,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "application_name": "sealpay-billing",
                "options": session_options(lock_timeout_seconds),
            },
            open=False,
        )

    async def open(self) -> None:
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """One transaction on a pooled connection; commits on success, rolls back on error."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def agent_session(
        self, agent_id: uuid.UUID, *, wait: bool = True
    ) -> AsyncIterator[Conn | None]:
        """A connection holding the agent's session advisory lock, or None when
        `wait` is false and another process holds it.

        Every billing change to an agent (upgrade, downgrade, renewal, plan)
        runs under this lock, so workflows that commit in two steps around a
        payment-core call never interleave.
        """
        key = agent_lock_key(agent_id)
        async with self.pool.connection() as conn:
            if wait:
                try:
                    await customers_repo.lock_agent(conn, key)
                except psycopg.errors.LockNotAvailable:  # lock_timeout: a slow workflow
                    raise AgentBusy(
                        "another billing operation for this agent is still running; "
                        "retry shortly (with the same Idempotency-Key, if any)",
                        agent_id=str(agent_id),
                    ) from None
            elif not await customers_repo.try_lock_agent(conn, key):
                yield None
                return
            try:
                yield conn
            finally:
                await _release(conn, key)


async def _release(conn: Conn, key: int) -> None:
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            await conn.rollback()
        await customers_repo.unlock_agent(conn, key)
    except psycopg.Error:
        # The lock dies with the session: close it rather than return it locked.
        with suppress(psycopg.Error):
            await conn.close()
