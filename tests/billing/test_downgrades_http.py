"""Downgrades: at period end by default; immediately with a refund of the unused part,
never more than was paid for it."""

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from support.factories import books


def minor_for_cents(usd_cents: int, usd_per_unit: str = "150.00", decimals: int = 12) -> int:
    exact = Fraction(usd_cents, 100) / Fraction(usd_per_unit) * 10**decimals
    return int((exact * 2 + 1) // 2)


PRO_XMR = minor_for_cents(2_900)
PERIOD = 31 * 86_400  # Jan 15 -> Feb 15


def test_a_downgrade_waits_for_the_period_end_by_default(billing, clock):
    agent = billing.agent(balance=10**13)
    billing.upgraded(agent, "pro")
    r = billing.downgrade(agent, "FREE")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "tier": "free",
        "effective": "period_end",
        "effective_at": "2026-02-15T12:00:00.000000Z",
        "refund": None,
    }
    assert billing.tier(agent)["tier"] == "pro" and billing.core_tier(agent) == "pro"
    balance = billing.balance(agent)
    report = billing.walk_to(datetime(2026, 2, 15, 12, tzinfo=UTC))
    assert report["counts"] == {"cancelled": 1}
    assert billing.tier(agent)["tier"] == "free" and billing.core_tier(agent) == "free"
    assert billing.subscription(agent).status == "cancelled"
    assert billing.balance(agent) == balance  # nothing charged for February
    assert billing.events(agent)[-3:] == [
        "subscription.downgrade_scheduled",
        "subscription.cancelled",
        "tier.changed",
    ]


def test_immediate_downgrade_to_free_refunds_the_unused_seconds_rounded_down(billing, clock, db):
    agent = billing.agent(balance=10**13)
    billing.upgraded(agent, "pro")
    clock.advance(timedelta(days=14))  # 17 of 31 days unused
    r = billing.downgrade(agent, "free", immediate=True)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = PRO_XMR * 17 // 31  # floor(paid * unused / covered)
    assert (body["tier"], body["effective"], body["effective_at"]) == (
        "free",
        "immediate",
        "2026-01-29T12:00:00.000000Z",
    )
    refund = body["refund"]
    assert (refund["usd_cents"], refund["asset"], refund["amount"]) == (
        2_900 * 17 // 31,
        "XMR",
        expected,
    )
    assert refund["receipt"]["kind"] == "refund" and refund["receipt"]["amount"] == expected
    assert billing.balance(agent) == 10**13 - PRO_XMR + expected
    assert billing.tier(agent)["tier"] == "free" and billing.core_tier(agent) == "free"
    assert billing.subscription(agent).status == "cancelled"
    assert "invoice.refunded" in billing.events(agent)
    assert billing.invoices(agent)[0].refunded_minor == expected
    books(db).assert_balanced()


def test_an_immediate_downgrade_is_idempotent_under_its_key(billing, clock, db):
    agent = billing.agent(balance=10**13)
    billing.upgraded(agent, "pro")
    clock.advance(timedelta(days=14))
    r = billing.http.post(
        f"/internal/agents/{agent.id}/downgrade",
        json={"tier": "free", "immediate": True},
        headers=billing.service,
    )
    assert (r.status_code, r.json()["code"]) == (400, "idempotency_key_required")
    first = billing.downgrade(agent, "free", immediate=True, key="down-lost-answer")
    assert first.status_code == 200, first.text
    after_first = billing.balance(agent)
    entries = books(db).entries
    clock.advance(timedelta(hours=1))  # the retry comes later: same answer all the same
    again = billing.downgrade(agent, "free", immediate=True, key="down-lost-answer")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert billing.balance(agent) == after_first and books(db).entries == entries
    reused = billing.downgrade(agent, "free", key="down-lost-answer")  # at period end instead
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    books(db).assert_balanced()


def test_immediate_must_be_a_json_boolean(billing):
    """`immediate` decides whether money moves now: 1, "yes" or "true" are refused."""
    agent = billing.agent(balance=10**13)
    billing.upgraded(agent, "pro")
    for value in (1, "yes", "true", 1.0):
        r = billing.http.post(
            f"/internal/agents/{agent.id}/downgrade",
            json={"tier": "free", "immediate": value},
            headers=billing.service,
        )
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), value
    assert billing.tier(agent)["tier"] == "pro" and billing.balance(agent) == 10**13 - PRO_XMR
    assert billing.subscription(agent).status == "active"


def test_back_down_from_enterprise_to_pro_refunds_only_the_enterprise_part(billing, clock):
    agent = billing.agent(balance=10**15)
    billing.upgraded(agent, "pro")
    clock.advance(timedelta(days=14))  # Jan 29: enterprise for the last 17 days
    enterprise = billing.upgraded(agent, "enterprise")["invoice"]["amount"]
    clock.advance(timedelta(days=7))  # Feb 5: 10 of those 17 days unused
    body = billing.downgrade(agent, "pro", immediate=True).json()
    assert body["refund"]["amount"] == enterprise * 10 // 17
    assert len(body["refund"]["receipts"]) == 1  # pro's own payment is kept
    sub = billing.subscription(agent)
    assert (sub.plan_code, sub.status, sub.period_price_usd_cents) == ("pro", "active", 2_900)
    assert billing.core_tier(agent) == "pro"
    # Up again: only the difference for the 10 days left.
    usd = int((Fraction(97_000 * 10, 31) * 2 + 1) // 2)
    again = billing.quote(agent, "enterprise").json()
    assert again["charge_now"]["usd_cents"] == usd


def test_up_and_down_in_the_same_period_never_yields_money_even_when_the_rate_falls(
    make_billing, feeds, clock
):
    billing = make_billing(rate_sources=feeds.sources, rate_fresh_seconds=1)
    feeds.kraken = "150.00"
    agent = billing.agent(balance=10**15)
    start = billing.balance(agent)
    charged = billing.upgraded(agent, "enterprise")["invoice"]["amount"]
    clock.advance(timedelta(seconds=5))
    feeds.kraken = "75.00"  # XMR halves: the same dollars now buy twice the XMR
    body = billing.downgrade(agent, "free", immediate=True).json()
    refunded = body["refund"]["amount"]
    assert refunded <= charged
    assert billing.balance(agent) <= start
    assert billing.balance(agent) == start - charged + refunded


def test_only_lower_tiers_are_downgrades(billing):
    agent = billing.agent(balance=10**13)
    r = billing.downgrade(agent, "free")
    assert (r.status_code, r.json()["code"]) == (409, "not_a_downgrade")
    billing.upgraded(agent, "pro")
    for tier in ("pro", "enterprise"):
        r = billing.downgrade(agent, tier, immediate=True)
        assert (r.status_code, r.json()["code"]) == (409, "not_a_downgrade")
    r = billing.downgrade(agent, "gold")
    assert (r.status_code, r.json()["code"]) == (422, "unknown_tier")


def test_a_comped_tier_steps_down_at_once_without_refund(billing):
    agent = billing.agent()
    r = billing.http.post(
        f"/internal/agents/{agent.id}/plan", json={"tier": "enterprise"}, headers=billing.service
    )
    assert r.status_code == 200 and r.json() == {"agent_id": agent.id, "tier": "enterprise"}
    assert billing.core_tier(agent) == "enterprise" and billing.charges(agent) == []
    body = billing.downgrade(agent, "pro").json()
    assert (body["effective"], body["refund"]) == ("immediate", None)
    assert billing.core_tier(agent) == "pro"
    assert "plan.set" in billing.audit(agent)


def test_past_due_can_only_go_down_to_free(billing):
    agent = billing.agent(balance=minor_for_cents(99_900))
    billing.upgraded(agent, "enterprise")
    billing.walk_to(datetime(2026, 2, 15, 12, tzinfo=UTC))  # the renewal fails: past due
    assert billing.subscription(agent).status == "past_due"
    r = billing.downgrade(agent, "pro", immediate=True)
    assert (r.status_code, r.json()["code"]) == (409, "subscription_past_due")
    r = billing.downgrade(agent, "free")
    assert r.status_code == 200
    assert (r.json()["effective"], r.json()["refund"]) == ("immediate", None)
    assert billing.subscription(agent).status == "cancelled"
    assert [i.status for i in billing.invoices(agent)] == ["paid", "void"]
    assert billing.core_tier(agent) == "free"
