"""SQL for agents and their API keys (gateway schema), on an async psycopg pool.

Async because the lookups run on the hot path of every payment (who is
calling, who is being paid): on the event loop they cost no thread handoff,
and `lookup_agents` answers many of them in one round trip (see lookups.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import psycopg

# Session settings of the gateway's pool. Every statement on it finds rows by
# unique index. Planning the agent lookup afresh on each call (PostgreSQL's
# default for a statement whose generic plan looks costlier) took more CPU than
# running it, so the generic plan is forced; and a generic plan made while a
# table is still small must not scan it once it has grown, so scans are off
# (as in the payment core's batch session). tests/gateway/test_agent_lookups.py
# checks the plan.
AGENT_SESSION_OPTIONS = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off"


class NameTaken(Exception):
    pass


class AgentRow(NamedTuple):
    id: uuid.UUID
    name: str
    created_at: datetime


async def insert_agent(
    conn: psycopg.AsyncConnection[Any], agent_id: uuid.UUID, name: str, now: datetime
) -> None:
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives
            await conn.execute(
                "INSERT INTO gateway.agents (id, name, created_at) VALUES (%s, %s, %s)",
                (agent_id, name, now),
            )
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "uq_agents_lower_name":
            raise NameTaken(name) from None
        raise


async def insert_api_key(
    conn: psycopg.AsyncConnection[Any],
    agent_id: uuid.UUID,
    key_hash: bytes,
    prefix: str,
    now: datetime,
) -> uuid.UUID:
    key_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO gateway.api_keys (id, agent_id, key_hash, prefix, created_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (key_id, agent_id, key_hash, prefix, now),
    )
    return key_id


class ApiKeyRow(NamedTuple):
    id: uuid.UUID
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


async def revoke_api_keys(
    conn: psycopg.AsyncConnection[Any], agent_id: uuid.UUID, now: datetime
) -> int:
    """Revoke every live key of the agent; how many."""
    cur = await conn.execute(
        "UPDATE gateway.api_keys SET revoked_at = %s WHERE agent_id = %s AND revoked_at IS NULL",
        (now, agent_id),
    )
    return cur.rowcount


async def list_api_keys(conn: psycopg.AsyncConnection[Any], agent_id: uuid.UUID) -> list[ApiKeyRow]:
    cur = await conn.execute(
        "SELECT id, prefix, created_at, revoked_at FROM gateway.api_keys "
        "WHERE agent_id = %s ORDER BY created_at, id",
        (agent_id,),
    )
    return [ApiKeyRow(*row) for row in await cur.fetchall()]


@dataclass
class AgentQuestions:
    """One round of lookups: API-key hashes, agent ids, agent names (any case)."""

    key_hashes: list[bytes] = field(default_factory=list)
    ids: list[uuid.UUID] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


@dataclass
class AgentAnswers:
    """What was found, keyed by the question exactly as it was asked; a
    question with no answer is absent (unknown or revoked)."""

    by_key_hash: dict[bytes, tuple[AgentRow, bytes]] = field(default_factory=dict)
    by_id: dict[uuid.UUID, AgentRow] = field(default_factory=dict)
    by_name: dict[str, AgentRow] = field(default_factory=dict)


# One statement answers every kind of question. Each branch joins the questions
# (unnested) to a unique index and returns the question it answers, so answers
# map back exactly, however PostgreSQL and Python disagree about case.
LOOKUP_AGENTS = """
SELECT 'key', q.hash, NULL::text, a.id, a.name, a.created_at, k.key_hash
FROM unnest(%(key_hashes)s::bytea[]) AS q(hash)
JOIN gateway.api_keys k ON k.key_hash = q.hash AND k.revoked_at IS NULL
JOIN gateway.agents a ON a.id = k.agent_id
UNION ALL
SELECT 'id', NULL, NULL, a.id, a.name, a.created_at, NULL
FROM gateway.agents a WHERE a.id = ANY(%(ids)s::uuid[])
UNION ALL
SELECT 'name', NULL, q.name, a.id, a.name, a.created_at, NULL
FROM unnest(%(names)s::text[]) AS q(name)
JOIN gateway.agents a ON lower(a.name) = lower(q.name)
"""


async def lookup_agents(
    conn: psycopg.AsyncConnection[Any], questions: AgentQuestions
) -> AgentAnswers:
    cur = await conn.execute(
        LOOKUP_AGENTS,
        {"key_hashes": questions.key_hashes, "ids": questions.ids, "names": questions.names},
    )
    answers = AgentAnswers()
    for kind, key_hash, name, agent_id, agent_name, created_at, stored_hash in await cur.fetchall():
        row = AgentRow(agent_id, agent_name, created_at)
        if kind == "key":
            answers.by_key_hash[bytes(key_hash)] = (row, bytes(stored_hash))
        elif kind == "id":
            answers.by_id[agent_id] = row
        else:
            answers.by_name[name] = row
    return answers
