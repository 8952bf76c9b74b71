"""Agents over real HTTP: registration, authentication, balances, sub-accounts."""

import hashlib
import uuid

import sqlalchemy as sa
from support.factories import books


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


def test_internal_transfer_refusals_name_the_agents_own_accounts(gateway, db):
    """A missing account of the caller's own is `not_found`, never `unknown_recipient`
    (which says no agent exists); moving an account onto itself is a validation error."""
    alice = gateway.register("alice")
    gateway.credit(alice, 5_000)
    cases = [
        ({"from_account": "main", "to_account": "nosuch"}, 404, "not_found"),
        ({"from_account": "nosuch", "to_account": "main"}, 404, "not_found"),
        ({"from_account": "main", "to_account": "main"}, 422, "validation_error"),
    ]
    for accounts, status, code in cases:
        r = gateway.http.post(
            "/v2/payments/internal-transfer",
            json={**accounts, "amount": 1_000},
            headers={**alice.auth, "Idempotency-Key": f"move-{uuid.uuid4()}"},
        )
        assert (r.status_code, r.json()["code"]) == (status, code), (accounts, r.text)
    r = gateway.http.post(
        "/v2/admin/credits",
        json={"agent_id": alice.agent_id, "account": "nosuch", "amount": 10},
        headers={**gateway.admin, "Idempotency-Key": "credit-nosuch-1"},
    )
    assert (r.status_code, r.json()["code"]) == (404, "not_found"), r.text
    assert gateway.balance(alice) == 5_000 and books(db).entries == 1


def test_opening_an_existing_account_conflicts(gateway):
    alice = gateway.register("alice")
    gateway.http.post("/v2/me/accounts", json={"name": "savings"}, headers=alice.auth)
    r = gateway.http.post("/v2/me/accounts", json={"name": "savings"}, headers=alice.auth)
    assert r.status_code == 409 and r.json()["code"] == "account_exists"


def test_an_operator_issues_a_new_key_and_the_old_one_stops_at_once(make_gateway):
    """The way back for an agent whose registration answer was lost (its name is
    taken, its only key never arrived) or whose key leaked."""
    with make_gateway(auth_cache_seconds=60) as gateway:
        alice = gateway.register("alice")
        assert gateway.http.get("/v2/me", headers=alice.auth).status_code == 200  # now cached
        path = f"/v2/admin/agents/{alice.agent_id}/api-keys"
        r = gateway.http.post(path, headers=gateway.admin)
        assert r.status_code == 201, r.text
        issued = r.json()
        assert issued["agent_id"] == alice.agent_id and issued["revoked"] == 1
        assert issued["api_key"].startswith("sk_") and issued["api_key"] != alice.api_key
        assert issued["prefix"] == issued["api_key"][:7] and issued["revoked_at"] is None
        old = gateway.http.get("/v2/me", headers=alice.auth)
        assert (old.status_code, old.json()["code"]) == (401, "unauthorized")
        new = {"Authorization": f"Bearer {issued['api_key']}"}
        me = gateway.http.get("/v2/me", headers=new)
        assert me.status_code == 200 and me.json()["agent_id"] == alice.agent_id

        r = gateway.http.post(path, json={"revoke_existing": False}, headers=gateway.admin)
        assert r.status_code == 201 and r.json()["revoked"] == 0
        assert gateway.http.get("/v2/me", headers=new).status_code == 200  # both work
        listed = gateway.http.get(path, headers=gateway.admin).json()
        # The clock is fixed, so all three share created_at: compare without order.
        assert {(k["prefix"], k["revoked_at"] is None) for k in listed} == {
            (alice.api_key[:7], False),
            (issued["prefix"], True),
            (r.json()["prefix"], True),
        }
        assert "api_key" not in listed[0]


def test_api_key_endpoints_need_the_operator_and_a_real_agent(gateway):
    alice = gateway.register("alice")
    path = f"/v2/admin/agents/{alice.agent_id}/api-keys"
    for method in ("GET", "POST"):
        r = gateway.http.request(method, path, headers=alice.auth)  # an agent is no operator
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
        r = gateway.http.request(
            method, f"/v2/admin/agents/{uuid.uuid4()}/api-keys", headers=gateway.admin
        )
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = gateway.http.post(path, json={"revoke_existing": "yes"}, headers=gateway.admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert gateway.http.get("/v2/me", headers=alice.auth).status_code == 200  # nothing changed
