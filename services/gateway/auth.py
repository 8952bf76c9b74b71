"""API keys for agents, the operator token for admins.

Only the SHA-256 of an API key is stored. Lookup is by hash (a unique index),
then the stored hash is compared in constant time. Verified keys are cached
in memory for `AUTH_CACHE_SECONDS` so the hot payment path does not pay a
database round trip for every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from services.common.logs import agent_id_var
from services.common.problems import Problem

KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class AuthenticatedAgent:
    agent_id: uuid.UUID
    name: str
    created_at: datetime


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    return token.strip()


def _unauthorized(detail: str) -> Problem:
    problem = Problem(401, "unauthorized", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


class AuthCache:
    """hash -> (agent, expiry). Thread-safe; bounded by evicting expired entries."""

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[AuthenticatedAgent, float]] = {}
        self._lock = threading.Lock()
        # Bumped by every revocation: a lookup that began before one may have read
        # a key row the revocation then removed, so its answer must not be cached.
        self.generation = 0

    def get(self, key_hash: bytes) -> AuthenticatedAgent | None:
        hit = self._entries.get(key_hash)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def forget_agent(self, agent_id: uuid.UUID) -> None:
        """Drop every cached key of the agent (its keys were just revoked)."""
        with self._lock:
            self.generation += 1
            self._entries = {k: v for k, v in self._entries.items() if v[0].agent_id != agent_id}

    def put(self, key_hash: bytes, agent: AuthenticatedAgent, looked_up_at: int) -> None:
        """Cache a lookup's answer, unless a revocation came since it began
        (`looked_up_at`: `generation` read before the lookup)."""
        if self.ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if self.generation != looked_up_at:
                return
            if len(self._entries) >= self.max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
            self._entries[key_hash] = (agent, now + self.ttl)


async def current_agent(request: Request) -> AuthenticatedAgent:
    """FastAPI dependency: the agent the bearer API key belongs to, or 401."""
    token = bearer_token(request)
    key_hash = hash_api_key(token)
    state = request.app.state
    agent: AuthenticatedAgent | None = state.auth_cache.get(key_hash)
    if agent is None:
        looked_up_at = state.auth_cache.generation
        agent = await state.agents.authenticate(key_hash)
        if agent is None:
            raise _unauthorized("unknown or revoked API key")
        state.auth_cache.put(key_hash, agent, looked_up_at)
    agent_id_var.set(str(agent.agent_id))
    return agent


async def require_admin(request: Request) -> None:
    """FastAPI dependency: the operator token (SEALPAY_ADMIN_TOKEN), or 401."""
    token = bearer_token(request)
    expected: str = request.app.state.admin_token
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise _unauthorized("operator token required")
