"""The verified-key cache never keeps a key a revocation removed while it was being
looked up (the lookup read the row before the revocation committed)."""

import uuid
from datetime import UTC, datetime

from services.gateway.auth import AuthCache, AuthenticatedAgent

ALICE = AuthenticatedAgent(uuid.uuid4(), "alice", datetime(2026, 3, 15, tzinfo=UTC))


def test_a_lookup_that_began_before_a_revocation_is_not_cached():
    cache = AuthCache(ttl_seconds=60)
    looked_up_at = cache.generation  # the request starts its key lookup
    cache.forget_agent(ALICE.agent_id)  # the operator's revocation commits meanwhile
    cache.put(b"alice-key", ALICE, looked_up_at)  # the lookup answers with the old row
    assert cache.get(b"alice-key") is None  # the next request looks the key up again


def test_a_lookup_after_the_revocation_is_cached_as_usual():
    cache = AuthCache(ttl_seconds=60)
    cache.forget_agent(ALICE.agent_id)
    cache.put(b"alice-key", ALICE, cache.generation)
    assert cache.get(b"alice-key") == ALICE
