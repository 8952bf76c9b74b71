"""Agents over real HTTP: registration, authentication, balances, sub-accounts."""

import hashlib

import sqlalchemy as sa


def test_registration_shows_the_key_once_and_stores_only_its_hash(gateway, db):
    r = gateway.http.post("/v2/agents", json={"name": "alice"})
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "alice" and body["tier"] == "free" and body["api_key"].startswith("sk_")
    with db.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM gateway.api_keys")).scalar_one()
        everything = conn.execute(
            sa.text("SELECT string_agg(t::text, ',') FROM gateway.api_keys t")
        ).scalar_one()
    assert bytes(stored) == hashlib.sha256(body["api_key"].encode()).digest()
    assert body["api_key"] not in everything


def test_names_are_unique_regardless_of_case(gateway):
    gateway.register("Alice")
    r = gateway.http.post("/v2/agents", json={"name": "alice"})
    assert r.status_code == 409 and r.json()["code"] == "agent_name_taken"


def test_bad_names_are_validation_problems(gateway):
    for name in ("", "has space", "x" * 65, "0b6a5b5e-9a47-4a4a-9d4e-2d5d3e0a8c11"):
        r = gateway.http.post("/v2/agents", json={"name": name})
        assert r.status_code == 422, name
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "validation_error"


def test_me_needs_a_valid_key(gateway):
    alice = gateway.register("alice")
    me = gateway.http.get("/v2/me", headers=alice.auth).json()
    assert me["agent_id"] == alice.agent_id and me["tier"] == "free" and me["name"] == "alice"
    for headers in ({}, {"Authorization": "Bearer sk_nope"}, {"Authorization": "Basic abc"}):
        r = gateway.http.get("/v2/me", headers=headers)
        assert r.status_code == 401
        assert r.json()["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"


def test_balance_sums_accounts_and_lists_them(gateway):
    alice = gateway.register("alice")
    gateway.credit(alice, 5_000)
    r = gateway.http.post("/v2/me/accounts", json={"name": "savings"}, headers=alice.auth)
    assert r.status_code == 201 and r.json() == {"name": "savings", "available": 0}
    r = gateway.http.post(
        "/v2/payments/internal-transfer",
        json={"from_account": "main", "to_account": "savings", "amount": 1_500},
        headers={**alice.auth, "Idempotency-Key": "move-to-savings-1"},
    )
    assert r.status_code == 201 and r.json()["fee"] == 0
    body = gateway.http.get("/v2/me/balance", headers=alice.auth).json()
    assert body == {
        "asset": "XMR",
        "available": 5_000,
        "pending": 0,
        "accounts": [{"name": "main", "available": 3_500}, {"name": "savings", "available": 1_500}],
    }


def test_opening_an_existing_account_conflicts(gateway):
    alice = gateway.register("alice")
    gateway.http.post("/v2/me/accounts", json={"name": "savings"}, headers=alice.auth)
    r = gateway.http.post("/v2/me/accounts", json={"name": "savings"}, headers=alice.auth)
    assert r.status_code == 409 and r.json()["code"] == "account_exists"
