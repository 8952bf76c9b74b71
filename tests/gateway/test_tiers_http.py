"""Tiers and upgrades through the gateway, with the real billing service behind it."""

from support.factories import books


def test_tier_quote_upgrade_and_the_fee_drops(gateway, db):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 10**12)
    tier = gateway.http.get("/v2/me/tier", headers=alice.auth).json()
    assert (tier["tier"], tier["limit"], tier["remaining"], tier["subscription"]) == (
        "free", 100, 100, None,
    )  # fmt: skip
    quote = gateway.http.post("/v2/me/upgrade-quote", json={"tier": "Pro"}, headers=alice.auth)
    assert quote.status_code == 201, quote.text
    assert quote.json()["charge_now"] == {
        "usd_cents": 2_900,
        "asset": "XMR",
        "amount": 193_333_333_333,
    }
    up = gateway.http.post(
        "/v2/me/upgrade",
        json={"quote_id": quote.json()["quote_id"]},
        headers={**alice.auth, "Idempotency-Key": "alice-upgrade-1"},
    )
    assert up.status_code == 200, up.text
    again = gateway.http.post(
        "/v2/me/upgrade",
        json={"quote_id": quote.json()["quote_id"]},
        headers={**alice.auth, "Idempotency-Key": "alice-upgrade-1"},
    )
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == up.json()
    assert gateway.balance(alice) == 10**12 - 193_333_333_333
    assert gateway.pay(alice, "bob", 10_000).json()["fee_bps"] == 10
    tier = gateway.http.get("/v2/me/tier", headers=alice.auth).json()
    assert (
        tier["tier"] == "pro"
        and tier["limit"] is None
        and tier["subscription"]["status"] == "active"
    )
    books(db).assert_balanced()


def test_upgrade_needs_the_money_and_a_known_tier(gateway):
    alice = gateway.register("alice")
    r = gateway.http.post(
        "/v2/me/upgrade",
        json={"tier": "pro"},
        headers={**alice.auth, "Idempotency-Key": "broke-0001"},
    )
    assert r.status_code == 402 and r.json()["code"] == "insufficient_funds"
    assert gateway.http.get("/v2/me/tier", headers=alice.auth).json()["tier"] == "free"
    r = gateway.http.post("/v2/me/upgrade-quote", json={"tier": "gold"}, headers=alice.auth)
    assert r.status_code == 422 and r.json()["code"] == "unknown_tier"
    r = gateway.http.post("/v2/me/upgrade", json={"tier": "pro"}, headers=alice.auth)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"


def test_immediate_downgrade_refunds_the_unused_part_at_most(gateway, db):
    alice = gateway.register("alice")
    gateway.credit(alice, 10**12)
    gateway.http.post(
        "/v2/me/upgrade",
        json={"tier": "pro"},
        headers={**alice.auth, "Idempotency-Key": "up-0000001"},
    )
    now = {"tier": "free", "immediate": True}
    r = gateway.http.post("/v2/me/downgrade", json=now, headers=alice.auth)
    assert (r.status_code, r.json()["code"]) == (400, "idempotency_key_required")
    keyed = {**alice.auth, "Idempotency-Key": "down-0000001"}
    r = gateway.http.post("/v2/me/downgrade", json=now, headers=keyed)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["effective"] == "immediate" and body["tier"] == "free"
    # Same instant as the upgrade: the whole period is unused, and never more comes back.
    assert body["refund"]["amount"] <= 193_333_333_333
    balance = gateway.balance(alice)
    assert balance <= 10**12
    # The answer was lost; the retry gets it again, and no second refund.
    again = gateway.http.post("/v2/me/downgrade", json=now, headers=keyed)
    assert again.status_code == 200 and again.json() == body
    assert again.headers["idempotent-replayed"] == "true"
    assert gateway.balance(alice) == balance
    other = gateway.http.post(
        "/v2/me/downgrade", json={"tier": "free", "immediate": False}, headers=keyed
    )
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    books(db).assert_balanced()


def test_the_operator_sets_a_plan_through_billing(gateway):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 100_000)
    r = gateway.http.post(
        f"/v2/admin/agents/{alice.agent_id}/tier",
        json={"tier": "enterprise"},
        headers=gateway.admin,
    )
    assert r.status_code == 200 and r.json()["tier"] == "enterprise"
    assert gateway.http.get("/v2/me/tier", headers=alice.auth).json()["tier"] == "enterprise"
    assert gateway.pay(alice, "bob", 10_000).json()["fee"] == 10
