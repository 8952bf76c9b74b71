"""Payments over real HTTP, against the real database."""

import base64
import threading

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from support.factories import books
from support.servers import serve


def test_pay_another_agent_and_see_the_fee(gateway, db):
    alice, bob = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 1_000_000)
    r = gateway.pay(alice, "bob", 10_000, memo="for the dataset")
    assert r.status_code == 201
    receipt = r.json()
    assert receipt["from"] == alice.agent_id and receipt["to"] == bob.agent_id
    assert (receipt["amount"], receipt["fee"], receipt["fee_bps"], receipt["net"]) == (
        10_000,
        30,
        30,
        9_970,
    )
    assert receipt["signer"] == "gateway" and receipt["status"] == "posted"
    assert "Idempotent-Replayed" not in r.headers
    assert gateway.balance(alice) == 990_000
    assert gateway.balance(bob) == 9_970
    books(db).assert_balanced()


def test_recipient_by_id_works_too(gateway):
    alice, bob = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 10_000)
    assert gateway.pay(alice, bob.agent_id, 1_000).status_code == 201
    assert gateway.pay(alice, "BOB", 1_000).status_code == 201  # names are case-insensitive


def test_replay_returns_the_original_receipt_with_the_replayed_header(gateway):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 100_000)
    first = gateway.pay(alice, "bob", 1_000, key="invoice-77-payment")
    again = gateway.pay(alice, "bob", 1_000, key="invoice-77-payment")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert gateway.balance(alice) == 99_000
    other = gateway.pay(alice, "bob", 2_000, key="invoice-77-payment")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def test_idempotency_key_is_required_and_checked(gateway):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 100_000)
    r = gateway.http.post(
        "/v2/payments/hub-routing", json={"to_agent": "bob", "amount": 5}, headers=alice.auth
    )
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    r = gateway.pay(alice, "bob", 5, key="short")
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"


def test_refusals_are_problems_and_move_nothing(gateway, db):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 1_000)
    cases = [
        (("bob", 1_001), 402, "insufficient_funds"),
        (("nobody", 10), 404, "unknown_recipient"),
        (("alice", 10), 422, "self_transfer"),
        (("bob", 0), 422, "validation_error"),
        (("bob", -5), 422, "validation_error"),
        (("bob", 1), 422, "fee_exceeds_amount"),
        (("bob", 2**53), 422, "validation_error"),
    ]
    for (to, amount), status, code in cases:
        r = gateway.pay(alice, to, amount)
        assert (r.status_code, r.json()["code"]) == (status, code), (to, amount, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == status and body["type"].endswith(code) and body["instance"]
    r = gateway.pay(alice, "bob", 10.5)
    assert r.status_code == 422
    assert gateway.balance(alice) == 1_000
    assert books(db).entries == 1


@pytest.mark.parametrize("amount", ["10", 10.0, True, None, [10]])
def test_amounts_must_be_json_integers(gateway, db, amount):
    """No coercion on money: a string, a float or a boolean is a 422, never a posting
    (pydantic would otherwise read true as 1 and "10" as 10)."""
    alice = gateway.register("alice")
    gateway.register("bob")
    gateway.credit(alice, 1_000)
    gateway.http.post("/v2/me/accounts", json={"name": "savings"}, headers=alice.auth)
    attempts = [
        gateway.pay(alice, "bob", amount),
        gateway.http.post(
            "/v2/payments/internal-transfer",
            json={"from_account": "main", "to_account": "savings", "amount": amount},
            headers={**alice.auth, "Idempotency-Key": "move-not-an-int"},
        ),
        gateway.http.post(
            "/v2/admin/credits",
            json={"agent_id": alice.agent_id, "amount": amount},
            headers={**gateway.admin, "Idempotency-Key": "credit-not-an-int"},
        ),
    ]
    for r in attempts:
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    assert gateway.balance(alice) == 1_000
    assert books(db).entries == 1


def test_the_101st_transfer_is_429_with_an_upgrade_hint(gateway):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 10**9)
    for _ in range(100):
        assert gateway.pay(alice, "bob", 1_000).status_code == 201
    r = gateway.pay(alice, "bob", 1_000)
    assert r.status_code == 429
    body = r.json()
    assert (body["code"], body["current_count"], body["limit"], body["upgrade_url"]) == (
        "tier_limit_reached",
        100,
        100,
        "/v2/me/upgrade",
    )
    assert body["upgrade_quote"]["tier"] == "pro"
    assert body["upgrade_quote"]["charge_now"]["usd_cents"] == 2_900


def test_history_is_keyset_paginated_newest_first(gateway):
    alice, bob = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 100_000)
    ids = [gateway.pay(alice, "bob", 100 + i).json()["payment_id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = gateway.http.get("/v2/payments", params=params, headers=bob.auth).json()
        seen += [p["payment_id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    r = gateway.http.get("/v2/payments", params={"cursor": "garbage"}, headers=bob.auth)
    assert r.status_code == 422


def test_a_receipt_is_only_shown_to_its_parties(gateway):
    alice, bob, carol = (
        gateway.register("alice"),
        gateway.register("bob"),
        gateway.register("carol"),
    )
    gateway.credit(alice, 100_000)
    receipt = gateway.pay(alice, "bob", 1_000).json()
    path = f"/v2/payments/{receipt['payment_id']}"
    assert gateway.http.get(path, headers=alice.auth).json() == receipt
    assert gateway.http.get(path, headers=bob.auth).json() == receipt
    assert gateway.http.get(path, headers=carol.auth).status_code == 404
    assert gateway.http.get("/v2/payments/not-a-uuid", headers=alice.auth).status_code == 422


def test_admin_endpoints_need_the_operator_token(gateway, db):
    alice = gateway.register("alice")
    r = gateway.http.post(
        "/v2/admin/credits",
        json={"agent_id": alice.agent_id, "amount": 5},
        headers={"Idempotency-Key": "credit-no-auth"},
    )
    assert r.status_code == 401
    r = gateway.http.post(
        "/v2/admin/credits",
        json={"agent_id": alice.agent_id, "amount": 5},
        headers={**alice.auth, "Idempotency-Key": "credit-agent-key"},
    )
    assert r.status_code == 401
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger.entries")).scalar_one() == 0


def test_admin_credit_is_idempotent_and_tier_changes_the_fee(gateway):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    first = gateway.credit(alice, 50_000, key="deposit-standin-1")
    again = gateway.credit(alice, 50_000, key="deposit-standin-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert gateway.balance(alice) == 50_000
    r = gateway.http.post(
        f"/v2/admin/agents/{alice.agent_id}/tier", json={"tier": "PRO"}, headers=gateway.admin
    )
    assert r.status_code == 200 and r.json()["tier"] == "pro"
    assert gateway.pay(alice, "bob", 10_000).json()["fee"] == 10
    r = gateway.http.post(
        f"/v2/admin/agents/{alice.agent_id}/tier", json={"tier": "gold"}, headers=gateway.admin
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_tier"


def test_a_tier_limit_refusal_does_not_wait_long_for_its_upgrade_quote(make_gateway):
    """Billing's quote can take many seconds (slow rate feeds); the 429 must not wait
    for it past the client's patience (10 s here): it goes out without the quote."""
    release = threading.Event()
    stalled = FastAPI()

    @stalled.post("/internal/agents/{agent_id}/upgrade-quote")
    def quote(agent_id: str) -> dict[str, str]:
        release.wait(30)  # billing stuck on its rate feeds
        return {}

    with serve(stalled) as billing_url, make_gateway(billing_url=billing_url) as gateway:
        alice, _ = gateway.register("alice"), gateway.register("bob")
        gateway.credit(alice, 10**9)
        for _ in range(100):
            assert gateway.pay(alice, "bob", 1_000).status_code == 201
        try:
            r = gateway.pay(alice, "bob", 1_000)  # raises if it takes over 10 s
        finally:
            release.set()
    assert (r.status_code, r.json()["code"]) == (429, "tier_limit_reached")
    assert r.json()["upgrade_quote"] is None and r.json()["current_count"] == 100


@pytest.mark.parametrize(
    "raw",
    ["0001-01-01T00:00:00+01:00|00000000-0000-0000-0000-000000000000", "garbage", "a|b|c"],
    ids=["time-outside-datetime-in-utc", "no-separator", "three-parts"],
)
def test_a_forged_history_cursor_is_a_validation_error(gateway, raw):
    """Not a 500 (which would also make the gateway fall back from the TEE)."""
    alice = gateway.register("alice")
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    r = gateway.http.get("/v2/payments", params={"cursor": cursor}, headers=alice.auth)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text


def test_a_billing_answer_that_is_not_json_still_gives_the_tier_limit_refusal(make_gateway):
    from fastapi.responses import PlainTextResponse

    broken = FastAPI()

    @broken.post("/internal/agents/{agent_id}/upgrade-quote")
    def quote(agent_id: str) -> PlainTextResponse:
        return PlainTextResponse("<html>proxy error page</html>")

    with serve(broken) as billing_url, make_gateway(billing_url=billing_url) as gateway:
        alice, _ = gateway.register("alice"), gateway.register("bob")
        gateway.credit(alice, 10**9)
        for _ in range(100):
            assert gateway.pay(alice, "bob", 1_000).status_code == 201
        r = gateway.pay(alice, "bob", 1_000)
    assert (r.status_code, r.json()["code"]) == (429, "tier_limit_reached")
    assert r.json()["upgrade_quote"] is None


@pytest.mark.parametrize("to", ["bob\u0000", "bob\u0000x", "bo b", "é" * 3, "-bob"])
def test_a_recipient_no_agent_could_be_named_is_unknown(gateway, to):
    """Not a 500: a NUL cannot even be sent to PostgreSQL, and the lookup it joined
    would have failed for every request in its batch."""
    alice, _ = gateway.register("alice"), gateway.register("bob")
    gateway.credit(alice, 10_000)
    r = gateway.pay(alice, to, 1_000)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_recipient"), r.text
    assert gateway.pay(alice, "bob", 1_000).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        b'{"to_agent": "bob", "amount": 1' + b"0" * 5_000 + b"}",
        b'{"to_agent": "\xff", "amount": 1}',
    ],
    ids=["integer-too-long-to-convert", "not-utf-8"],
)
def test_a_body_that_cannot_be_parsed_is_a_validation_error(gateway, body):
    alice, _ = gateway.register("alice"), gateway.register("bob")
    r = gateway.http.post(
        "/v2/payments/hub-routing",
        content=body,
        headers={
            **alice.auth,
            "Idempotency-Key": "unparsable-1",
            "content-type": "application/json",
        },
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text


def test_an_attestation_nonce_padded_with_spaces_is_refused(gateway):
    r = gateway.http.get("/v2/tee/attestation", params={"nonce": "00" * 8 + " " * 16})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert r.json()["field"] == "nonce"
