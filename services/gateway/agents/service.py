"""Agents: registration, authentication, recipient lookup (lookups.py batches the last two).

Registration registers the ledger holder through the dispatcher first, then
writes the agent and its key in one short transaction: if the core refuses or
is down, no agent exists without a ledger holder, and no database connection
waits on the core. (The reverse, a holder without an agent, is harmless: free
and empty. A name already taken is refused before the core is asked.)
"""

from __future__ import annotations

import hmac
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from services.common.clock import Clock
from services.common.problems import Problem
from services.gateway.agents import repository as repo
from services.gateway.agents.lookups import AgentLookups
from services.gateway.agents.schemas import is_agent_name
from services.gateway.auth import AuthenticatedAgent, hash_api_key, new_api_key
from services.payment_client.base import PaymentDispatcher


@dataclass(frozen=True)
class Registration:
    agent: AuthenticatedAgent
    api_key: str
    tier: str


class _RecipientCache:
    """Agent names and ids never change, so a found recipient can be cached for good
    (bounded, least recently used first out). Misses are never cached."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, AuthenticatedAgent] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str) -> AuthenticatedAgent | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, agent: AuthenticatedAgent) -> None:
        with self._lock:
            for key in (str(agent.agent_id), agent.name.lower()):
                self._entries[key] = agent
                self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


def _name_taken(name: str) -> Problem:
    return Problem(409, "agent_name_taken", f"the name {name!r} is taken")


class AgentDirectory:
    """Agents over an async psycopg pool (opened by the app's lifespan)."""

    def __init__(
        self, pool: AsyncConnectionPool, dispatcher: PaymentDispatcher, clock: Clock
    ) -> None:
        self.pool = pool
        self.dispatcher = dispatcher
        self.clock = clock
        self._recipients = _RecipientCache()
        self.lookups = AgentLookups(pool)

    async def register(self, name: str) -> Registration:
        if _as_uuid(name) is not None:
            raise Problem(422, "validation_error", "an agent name cannot be a UUID", field="name")
        if await self.lookups.by_name(name) is not None:
            raise _name_taken(name)
        agent_id = uuid.uuid4()
        api_key = new_api_key()
        # The ledger holder first, with no database connection held: the core may
        # take its whole deadline, and the pool also serves every key lookup. Should
        # the name be taken meanwhile, the holder stays unused (free, empty).
        holder = await self.dispatcher.register_holder(agent_id)
        now = self.clock.now()
        async with self.pool.connection() as conn, conn.transaction():
            try:
                await repo.insert_agent(conn, agent_id, name, now)
            except repo.NameTaken:
                raise _name_taken(name) from None
            await repo.insert_api_key(conn, agent_id, hash_api_key(api_key), api_key[:7], now)
        agent = AuthenticatedAgent(agent_id, name, now)
        self._recipients.put(agent)  # committed, and names and ids never change
        return Registration(agent, api_key, holder.tier.value)

    async def issue_api_key(
        self, agent_id: uuid.UUID, *, revoke_existing: bool
    ) -> tuple[str, repo.ApiKeyRow, int] | None:
        """A new API key for an existing agent: (the key, shown only now; its row;
        how many older keys were revoked). None when there is no such agent.

        The way back for an agent whose registration answer was lost (the name
        is taken, the only key never arrived) and for a leaked key. Revoked keys
        stop working at once on this process and within AUTH_CACHE_SECONDS on
        the others (each caches verified keys that long)."""
        if await self.resolve(str(agent_id)) is None:
            return None
        api_key = new_api_key()
        now = self.clock.now()
        async with self.pool.connection() as conn, conn.transaction():
            revoked = await repo.revoke_api_keys(conn, agent_id, now) if revoke_existing else 0
            key_id = await repo.insert_api_key(
                conn, agent_id, hash_api_key(api_key), api_key[:7], now
            )
        return api_key, repo.ApiKeyRow(key_id, api_key[:7], now, None), revoked

    async def api_keys(self, agent_id: uuid.UUID) -> list[repo.ApiKeyRow] | None:
        """The agent's keys (prefix and dates only), or None when there is no such agent."""
        if await self.resolve(str(agent_id)) is None:
            return None
        async with self.pool.connection() as conn:
            return await repo.list_api_keys(conn, agent_id)

    async def authenticate(self, key_hash: bytes) -> AuthenticatedAgent | None:
        found = await self.lookups.by_key_hash(key_hash)
        if found is None or not hmac.compare_digest(found[1], key_hash):
            return None
        row = found[0]
        return AuthenticatedAgent(row.id, row.name, row.created_at)

    async def resolve(self, name_or_id: str) -> AuthenticatedAgent | None:
        """A recipient by id (a UUID) or by name (case-insensitive)."""
        agent_id = _as_uuid(name_or_id)
        if agent_id is None and not is_agent_name(name_or_id):
            # No agent can bear it; and asking the database would fail the whole
            # batch of lookups it joined (a NUL character cannot even be sent).
            return None
        key = str(agent_id) if agent_id is not None else name_or_id.lower()
        cached = self._recipients.get(key)
        if cached is not None:
            return cached
        if agent_id is not None:
            row = await self.lookups.by_id(agent_id)
        else:
            row = await self.lookups.by_name(name_or_id)
        if row is None:
            return None
        found = AuthenticatedAgent(row.id, row.name, row.created_at)
        self._recipients.put(found)
        return found


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
