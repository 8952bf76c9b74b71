"""Quotes and upgrades over real HTTP: priced by the server, charged once, or not at all."""

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from support.factories import books, pay

from services.billing.agents import service as agents
from services.billing.runtime import build_billing
from services.billing.upgrades import service as upgrades
from services.billing.worker import register_tasks


def minor_for_cents(usd_cents: int, usd_per_unit: str = "150.00", decimals: int = 12) -> int:
    """The conversion oracle: exact fractions, half up, independent of the code."""
    exact = Fraction(usd_cents, 100) / Fraction(usd_per_unit) * 10**decimals
    return int((exact * 2 + 1) // 2)


PRO_XMR = minor_for_cents(2_900)  # $29 at $150.00/XMR, half up
ENTERPRISE_XMR = minor_for_cents(99_900)
PERIOD_JAN_15 = 31 * 86_400  # Jan 15 -> Feb 15


def test_quote_for_pro_from_free_is_the_full_price_converted_half_up(billing):
    agent = billing.agent()
    r = billing.quote(agent, "PRO")
    assert r.status_code == 201, r.text
    q = r.json()
    assert q["tier"] == "pro" and q["from_tier"] == "free"
    assert q["charge_now"] == {"usd_cents": 2_900, "asset": "XMR", "amount": PRO_XMR}
    assert PRO_XMR == 193_333_333_333  # 0.193333333333(3) XMR, the third rounded away
    assert q["rate"] == {
        "value": "150.00",
        "source": "static",
        "fetched_at": "2026-01-15T12:00:00.000000Z",
        "stale": False,
    }
    assert q["effective"] == "immediate" and q["proration"] is None
    assert q["next_renewal"] == {"at": "2026-02-15T12:00:00.000000Z", "usd_cents": 2_900}
    assert q["expires_at"] == "2026-01-15T12:05:00.000000Z"


def test_upgrade_charges_the_balance_sets_the_core_tier_and_publishes(billing, db):
    agent = billing.agent(balance=10**12)
    body = billing.upgraded(agent, "pro")
    assert body["tier"] == "pro"
    assert body["subscription"] == {
        "status": "active",
        "current_period_end": "2026-02-15T12:00:00.000000Z",
        "grace_until": None,
    }
    invoice = body["invoice"]
    assert (invoice["usd_cents"], invoice["asset"], invoice["amount"], invoice["status"]) == (
        2_900,
        "XMR",
        PRO_XMR,
        "paid",
    )
    receipt = body["receipt"]
    assert receipt["kind"] == "charge" and receipt["amount"] == PRO_XMR
    assert receipt["to_account"] == "revenue:subscription" and receipt["signature"]
    assert billing.balance(agent) == 10**12 - PRO_XMR
    assert billing.core_tier(agent) == "pro"
    tier = billing.tier(agent)
    assert (tier["tier"], tier["label"], tier["limit"], tier["remaining"]) == (
        "pro",
        "Pro",
        None,
        None,
    )
    assert billing.events(agent) == ["subscription.created", "invoice.paid", "tier.changed"]
    assert billing.audit(agent) == ["subscription.created", "invoice.paid", "tier.changed"]
    (row,) = billing.invoices(agent)
    assert (row.rate_value, row.rate_source, row.rate_stale, row.cycle) == (
        Decimal("150.00"),
        "static",
        False,
        1,
    )
    books(db).assert_balanced()


def test_mid_period_upgrade_is_prorated_by_seconds_remaining(billing, clock):
    agent = billing.agent(balance=10**14)
    billing.upgraded(agent, "pro")
    clock.advance(timedelta(days=14))  # Jan 29 12:00: 17 of 31 days left
    q = billing.quote(agent, "enterprise").json()
    remaining = 17 * 86_400
    usd = int((Fraction(97_000 * remaining, PERIOD_JAN_15) * 2 + 1) // 2)
    assert usd == 53_194  # 97,000 * 17/31 = 53,193.55 -> half up
    assert q["charge_now"] == {"usd_cents": usd, "asset": "XMR", "amount": minor_for_cents(usd)}
    assert q["proration"] == {
        "seconds_remaining": remaining,
        "period_seconds": PERIOD_JAN_15,
        "price_delta_usd_cents": 97_000,
    }
    assert q["next_renewal"] == {"at": "2026-02-15T12:00:00.000000Z", "usd_cents": 99_900}
    before = billing.balance(agent)
    r = billing.upgrade(agent, quote_id=q["quote_id"])
    assert r.status_code == 200, r.text
    assert r.json()["invoice"]["amount"] == minor_for_cents(usd)
    assert billing.balance(agent) == before - minor_for_cents(usd)
    assert billing.core_tier(agent) == "enterprise"
    sub = billing.subscription(agent)
    assert (sub.plan_code, sub.cycle, sub.period_price_usd_cents) == ("enterprise", 1, 99_900)


def test_an_upgrade_charges_the_quote_not_todays_price(billing):
    agent = billing.agent(balance=10**13)
    q = billing.quote(agent, "pro").json()
    r = billing.http.patch(
        "/admin/plans/pro", json={"price_usd_cents": 4_900}, headers=billing.admin
    )
    assert r.status_code == 200 and r.json()["price_usd_cents"] == 4_900
    body = billing.upgrade(agent, quote_id=q["quote_id"]).json()
    assert body["invoice"]["usd_cents"] == 2_900 and body["invoice"]["amount"] == PRO_XMR
    other = billing.agent(balance=10**13)
    assert billing.upgraded(other, "pro")["invoice"]["usd_cents"] == 4_900  # new quotes: new price


def test_clients_cannot_send_amounts(billing):
    agent = billing.agent(balance=10**13)
    r = billing.http.post(
        f"/internal/agents/{agent.id}/upgrade",
        json={"tier": "pro", "amount": 1},
        headers={**billing.service, "Idempotency-Key": "client-amount-1"},
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert billing.balance(agent) == 10**13


def test_replay_returns_the_original_body_and_a_different_request_is_refused(billing):
    agent = billing.agent(balance=10**13)
    first = billing.upgrade(agent, "pro", key="upgrade-key-0001")
    again = billing.upgrade(agent, "pro", key="upgrade-key-0001")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = billing.upgrade(agent, "enterprise", key="upgrade-key-0001")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert len(billing.charges(agent)) == 1
    assert billing.balance(agent) == 10**13 - PRO_XMR


def test_the_same_upgrade_sent_twice_at_once_charges_once(billing, together):
    agent = billing.agent(balance=10**13)
    a, b = together(
        lambda: billing.upgrade(agent, "pro", key="racing-upgrade-1"),
        lambda: billing.upgrade(agent, "pro", key="racing-upgrade-1"),
    )
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert a.json() == b.json()
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in (a, b)) == ["", "true"]
    assert len(billing.charges(agent)) == 1


def test_insufficient_funds_changes_nothing_and_frees_the_key(billing, db):
    agent = billing.agent(balance=PRO_XMR - 1)
    q = billing.quote(agent, "pro").json()
    r = billing.upgrade(agent, quote_id=q["quote_id"], key="poor-upgrade-01")
    assert r.status_code == 402
    problem = r.json()
    assert problem["code"] == "insufficient_funds"
    assert (problem["available"], problem["amount"]) == (PRO_XMR - 1, PRO_XMR)
    assert r.headers["content-type"] == "application/problem+json"
    assert billing.tier(agent)["tier"] == "free" and billing.core_tier(agent) == "free"
    assert billing.tier(agent)["subscription"] is None
    assert billing.invoices(agent) == [] and billing.events(agent) == []
    assert billing.balance(agent) == PRO_XMR - 1
    billing.fund(agent, 1)
    ok = billing.upgrade(agent, quote_id=q["quote_id"], key="poor-upgrade-01")
    assert ok.status_code == 200 and "Idempotent-Replayed" not in ok.headers
    assert billing.balance(agent) == 0
    books(db).assert_balanced()


def test_quotes_expire_are_used_once_and_belong_to_one_agent_and_tier(billing, clock):
    alice, bob = billing.agent(balance=10**13), billing.agent(balance=10**13)
    q = billing.quote(alice, "pro").json()
    r = billing.upgrade(bob, quote_id=q["quote_id"])
    assert r.status_code == 409 and r.json()["code"] == "quote_mismatch"
    r = billing.upgrade(alice, "enterprise", quote_id=q["quote_id"])
    assert r.status_code == 409 and r.json()["code"] == "quote_mismatch"
    clock.advance(timedelta(minutes=5, seconds=1))
    r = billing.upgrade(alice, quote_id=q["quote_id"])
    assert r.status_code == 410 and r.json()["code"] == "quote_expired"
    assert r.json()["reason"] == "expired"
    q = billing.quote(alice, "pro").json()
    assert billing.upgrade(alice, quote_id=q["quote_id"]).status_code == 200
    r = billing.upgrade(alice, quote_id=q["quote_id"])
    assert r.status_code == 410 and r.json()["reason"] == "used"
    r = billing.upgrade(alice, quote_id=str(uuid.uuid4()))
    assert r.status_code == 404
    assert len(billing.charges(alice)) == 1 and billing.charges(bob) == []


def test_a_quote_is_superseded_when_the_subscription_changes(billing):
    agent = billing.agent(balance=10**14)
    stale_quote = billing.quote(agent, "enterprise").json()  # a new period from free
    billing.upgraded(agent, "pro")
    r = billing.upgrade(agent, quote_id=stale_quote["quote_id"])
    assert r.status_code == 410 and r.json()["reason"] == "superseded"
    assert len(billing.charges(agent)) == 1


def test_refusals_before_any_money(billing):
    agent = billing.agent(balance=10**13)
    r = billing.quote(agent, "platinum")
    assert (r.status_code, r.json()["code"]) == (422, "unknown_tier")
    r = billing.quote(agent, "free")
    assert (r.status_code, r.json()["code"]) == (409, "not_an_upgrade")
    billing.upgraded(agent, "Enterprise")
    for tier in ("pro", "ENTERPRISE"):
        r = billing.quote(agent, tier)
        assert (r.status_code, r.json()["code"]) == (409, "not_an_upgrade")
    r = billing.upgrade(agent, "pro")
    assert (r.status_code, r.json()["code"]) == (409, "not_an_upgrade")
    r = billing.quote(type(agent)(uuid.uuid4()), "pro")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_service_token_and_idempotency_key_are_required(billing):
    agent = billing.agent(balance=10**13)
    url = f"/internal/agents/{agent.id}/upgrade"
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, billing.admin):
        r = billing.http.post(url, json={"tier": "pro"}, headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    r = billing.http.get(f"/internal/agents/{agent.id}/tier")
    assert r.status_code == 401
    r = billing.http.post(url, json={"tier": "pro"}, headers=billing.service)
    assert (r.status_code, r.json()["code"]) == (400, "idempotency_key_required")
    r = billing.http.post(
        url, json={"tier": "pro"}, headers={**billing.service, "Idempotency-Key": "short"}
    )
    assert (r.status_code, r.json()["code"]) == (400, "idempotency_key_required")
    r = billing.http.post(url, json={}, headers={**billing.service, "Idempotency-Key": "12345678"})
    assert r.status_code == 422
    assert billing.charges(agent) == []


def test_tier_reports_this_months_usage_from_the_core(billing):
    agent, payee = billing.agent(balance=10**6), billing.agent()
    for _ in range(3):
        pay(billing.ledger, agent.agent_id, payee.agent_id, 1_000)
    assert billing.tier(agent) == {
        "tier": "free",
        "label": "Free",
        "current_month_count": 3,
        "limit": 100,
        "remaining": 97,
        "subscription": None,
    }


def test_an_upgrade_interrupted_after_the_charge_completes_once(
    billing, billing_settings, clock, db
):
    """A crash between the charge and the second transaction: the retry with the
    same key, and the sweep for another agent, finish it without charging again."""
    retried, swept = billing.agent(balance=10**13), billing.agent(balance=10**13)

    async def crash_after_charge(agent_id: uuid.UUID, key: str) -> None:
        runtime = build_billing(billing_settings, engine=db, clock=clock)
        register_tasks(runtime)
        await runtime.start()
        try:
            async with runtime.db.agent_session(agent_id) as conn:
                assert conn is not None
                request = await agents.record_upgrade_intent(
                    runtime,
                    conn,
                    agent_id,
                    await runtime.dispatcher.usage(agent_id),
                    "pro",
                    None,
                    key,
                    agents.request_hash("pro", None),
                )
                async with conn.transaction():
                    invoice = await upgrades.invoices_repo.get(conn, request.invoice_id)
                await runtime.dispatcher.charge(upgrades.invoices.charge_command(invoice))
                # ... and the process dies here: no second transaction.
        finally:
            await runtime.stop()

    asyncio.run(crash_after_charge(retried.agent_id, "crashed-upgrade-1"))
    asyncio.run(crash_after_charge(swept.agent_id, "crashed-upgrade-2"))
    assert billing.balance(retried) == 10**13 - PRO_XMR  # charged, not yet applied
    assert billing.tier(retried)["tier"] == "free"

    r = billing.upgrade(retried, "pro", key="crashed-upgrade-1")
    assert r.status_code == 200 and r.headers["Idempotent-Replayed"] == "true"
    assert r.json()["receipt"]["amount"] == PRO_XMR
    report = billing.run_renewals()
    assert report["counts"] == {"settled_upgrade": 1}
    for agent in (retried, swept):
        assert billing.tier(agent)["tier"] == "pro" and billing.core_tier(agent) == "pro"
        assert len(billing.charges(agent)) == 1
        assert billing.balance(agent) == 10**13 - PRO_XMR
    books(db).assert_balanced()


def test_an_agent_held_too_long_by_another_workflow_is_503_agent_busy(make_billing, billing_db):
    """A request that cannot get the agent's lock in time changes nothing and says so."""
    import sqlalchemy as sa

    from services.billing.db import agent_lock_key

    billing = make_billing(billing_lock_timeout_seconds=0.3)
    agent = billing.agent(balance=10**12)
    with billing_db.connect() as holder:  # another workflow, stuck on a slow call
        holder.execute(
            sa.text("SELECT pg_advisory_lock(:k)"), {"k": agent_lock_key(agent.agent_id)}
        )
        r = billing.upgrade(agent, "pro", key="busy-upgrade-1")
        assert (r.status_code, r.json()["code"]) == (503, "agent_busy"), r.text
        assert r.headers["Retry-After"] == "5"
        holder.execute(sa.text("SELECT pg_advisory_unlock_all()"))
    assert billing.balance(agent) == 10**12 and billing.tier(agent)["tier"] == "free"
    again = billing.upgrade(agent, "pro", key="busy-upgrade-1")  # the same key, now free
    assert again.status_code == 200, again.text
    assert billing.balance(agent) == 10**12 - PRO_XMR
