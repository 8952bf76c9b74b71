"""Renewals walked with a FixedClock through month ends, year ends, failures, grace and lapse.

Each step moves the clock and runs one sweep over real HTTP (POST /admin/renewals/run),
exactly what the worker's periodic task runs.
"""

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
import sqlalchemy as sa
from support.factories import books


def minor_for_cents(usd_cents: int, usd_per_unit: str = "150.00", decimals: int = 12) -> int:
    exact = Fraction(usd_cents, 100) / Fraction(usd_per_unit) * 10**decimals
    return int((exact * 2 + 1) // 2)


PRO_XMR = minor_for_cents(2_900)
ENTERPRISE_XMR = minor_for_cents(99_900)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def periods(billing, agent) -> list[tuple[int, datetime, datetime, str]]:
    return [(i.cycle, i.period_start, i.period_end, i.status) for i in billing.invoices(agent)]


def test_jan_31_renews_on_feb_28_then_mar_31_then_apr_30(billing, clock, db):
    clock.set(utc(2026, 1, 31, 12))
    agent = billing.agent(balance=10 * PRO_XMR)
    billing.upgraded(agent, "pro")
    assert billing.walk_to(utc(2026, 2, 28, 11, 59, 59))["counts"] == {}
    assert billing.walk_to(utc(2026, 2, 28, 12))["counts"] == {"renewed": 1}
    assert billing.walk_to(utc(2026, 3, 31, 12))["counts"] == {"renewed": 1}
    assert billing.walk_to(utc(2026, 4, 30, 12))["counts"] == {"renewed": 1}
    assert periods(billing, agent) == [
        (1, utc(2026, 1, 31, 12), utc(2026, 2, 28, 12), "paid"),
        (2, utc(2026, 2, 28, 12), utc(2026, 3, 31, 12), "paid"),
        (3, utc(2026, 3, 31, 12), utc(2026, 4, 30, 12), "paid"),
        (4, utc(2026, 4, 30, 12), utc(2026, 5, 31, 12), "paid"),
    ]
    assert billing.balance(agent) == 6 * PRO_XMR
    assert [c.idempotency_key for c in billing.charges(agent)][1:] == [
        f"renewal:{billing.subscription(agent).id}:{n}" for n in (2, 3, 4)
    ]
    assert (
        billing.tier(agent)["subscription"]["current_period_end"] == "2026-05-31T12:00:00.000000Z"
    )
    assert billing.events(agent).count("subscription.renewed") == 3
    assert billing.events(agent).count("invoice.paid") == 4
    books(db).assert_balanced()


def test_in_a_leap_year_jan_31_renews_on_feb_29_then_mar_31(billing, clock):
    clock.set(utc(2028, 1, 31, 8, 30))
    agent = billing.agent(balance=10 * PRO_XMR)
    billing.upgraded(agent, "pro")
    billing.walk_to(utc(2028, 2, 29, 8, 30))
    billing.walk_to(utc(2028, 3, 31, 8, 30))
    assert [p[1:3] for p in periods(billing, agent)] == [
        (utc(2028, 1, 31, 8, 30), utc(2028, 2, 29, 8, 30)),
        (utc(2028, 2, 29, 8, 30), utc(2028, 3, 31, 8, 30)),
        (utc(2028, 3, 31, 8, 30), utc(2028, 4, 30, 8, 30)),
    ]


def test_renewals_cross_the_year_end(billing, clock):
    clock.set(utc(2026, 12, 31, 23, 0))
    agent = billing.agent(balance=10 * PRO_XMR)
    billing.upgraded(agent, "pro")
    billing.walk_to(utc(2027, 1, 31, 23, 0))
    billing.walk_to(utc(2027, 2, 28, 23, 0))
    assert [p[1:3] for p in periods(billing, agent)] == [
        (utc(2026, 12, 31, 23), utc(2027, 1, 31, 23)),
        (utc(2027, 1, 31, 23), utc(2027, 2, 28, 23)),
        (utc(2027, 2, 28, 23), utc(2027, 3, 31, 23)),
    ]


def test_a_late_sweep_catches_up_every_missed_period_once(billing, clock):
    clock.set(utc(2026, 11, 15, 6))
    agent = billing.agent(balance=10 * PRO_XMR)
    billing.upgraded(agent, "pro")
    report = billing.walk_to(utc(2027, 2, 20))  # Dec 15, Jan 15 and Feb 15 all passed
    assert report["counts"] == {"renewed": 3}
    assert [p[0] for p in periods(billing, agent)] == [1, 2, 3, 4]
    assert billing.subscription(agent).current_period_end == utc(2027, 3, 15, 6)
    assert billing.walk_to(utc(2027, 2, 21))["counts"] == {}
    assert len(billing.charges(agent)) == 4


def test_unpaid_renewal_retries_on_schedule_then_lapses_after_grace(billing, clock, db):
    agent = billing.agent(balance=PRO_XMR)
    billing.upgraded(agent, "pro")  # Jan 15 12:00, balance now 0
    due = utc(2026, 2, 15, 12)
    report = billing.walk_to(due)
    (failed,) = report["actions"]
    assert failed["action"] == "renewal_failed" and failed["attempt"] == 1
    assert failed["next_attempt_at"] == "2026-02-15T12:05:00.000000Z"
    assert failed["grace_until"] == "2026-02-22T12:00:00.000000Z"
    sub = billing.subscription(agent)
    assert (sub.status, sub.consecutive_failures) == ("past_due", 1)
    assert billing.tier(agent)["subscription"] == {
        "status": "past_due",
        "current_period_end": "2026-02-15T12:00:00.000000Z",
        "grace_until": "2026-02-22T12:00:00.000000Z",
    }
    assert billing.core_tier(agent) == "pro"  # kept during grace
    assert billing.walk_to(due + timedelta(minutes=4))["counts"] == {}

    attempts = [due]
    for delay in (
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=6),
    ):
        at = attempts[-1] + delay
        report = billing.walk_to(at)
        assert report["counts"] == {"renewal_failed": 1}, report
        attempts.append(at)
    assert attempts[1:] == [
        utc(2026, 2, 15, 12, 5),
        utc(2026, 2, 15, 12, 35),
        utc(2026, 2, 15, 14, 35),
        utc(2026, 2, 15, 20, 35),
    ]
    sub = billing.subscription(agent)
    assert (sub.consecutive_failures, sub.next_attempt_at) == (5, None)  # retries stop at 5
    assert billing.walk_to(utc(2026, 2, 21))["counts"] == {}

    report = billing.walk_to(utc(2026, 2, 22, 12))
    assert report["counts"] == {"lapsed": 1}
    assert billing.subscription(agent).status == "lapsed"
    assert billing.tier(agent)["tier"] == "free" and billing.core_tier(agent) == "free"
    assert [i.status for i in billing.invoices(agent)] == ["paid", "void"]
    assert len(billing.charges(agent)) == 1
    events = billing.events(agent)
    assert events.count("subscription.renewal_failed") == 5
    assert events.count("subscription.past_due") == 1
    assert events[-2:] == ["subscription.lapsed", "tier.changed"]
    assert billing.audit(agent).count("subscription.renewal_failed") == 5
    books(db).assert_balanced()


def test_a_later_successful_payment_restores_active_on_the_same_anchor(billing, clock):
    agent = billing.agent(balance=PRO_XMR)
    billing.upgraded(agent, "pro")
    billing.walk_to(utc(2026, 2, 15, 12))
    billing.fund(agent, PRO_XMR)
    report = billing.walk_to(utc(2026, 2, 15, 12, 5))
    (renewed,) = report["actions"]
    assert (renewed["action"], renewed["recovered"], renewed["cycle"]) == ("renewed", True, 2)
    sub = billing.subscription(agent)
    assert (sub.status, sub.consecutive_failures, sub.grace_until, sub.next_attempt_at) == (
        "active",
        0,
        None,
        None,
    )
    assert (sub.current_period_start, sub.current_period_end) == (
        utc(2026, 2, 15, 12),
        utc(2026, 3, 15, 12),
    )
    assert billing.balance(agent) == 0
    (_, second) = billing.invoices(agent)
    assert second.status == "paid" and second.attempts == 2


def test_past_due_agent_can_buy_a_new_period(billing, clock):
    agent = billing.agent(balance=PRO_XMR)
    billing.upgraded(agent, "pro")
    billing.walk_to(utc(2026, 2, 15, 12))
    billing.fund(agent, PRO_XMR)
    clock.set(utc(2026, 2, 17, 9))
    body = billing.upgraded(agent, "pro")
    assert body["subscription"]["current_period_end"] == "2026-03-17T09:00:00.000000Z"
    subs = billing.rows(
        "SELECT status FROM billing.subscriptions WHERE agent_id = :a ORDER BY created_at",
        a=agent.agent_id,
    )
    assert [s.status for s in subs] == ["cancelled", "active"]
    assert [i.status for i in billing.invoices(agent)] == ["paid", "void", "paid"]
    assert billing.balance(agent) == 0


def test_a_scheduled_downgrade_renews_at_the_lower_price(billing, clock):
    agent = billing.agent(balance=10 * ENTERPRISE_XMR)
    billing.upgraded(agent, "enterprise")
    billing.downgrade(agent, "pro")
    report = billing.walk_to(utc(2026, 2, 15, 12))
    assert report["counts"] == {"downgraded": 1, "renewed": 1}
    (_, renewal) = billing.invoices(agent)
    assert (renewal.plan_code, renewal.usd_cents, renewal.amount_minor) == ("pro", 2_900, PRO_XMR)
    assert billing.core_tier(agent) == "pro" and billing.tier(agent)["tier"] == "pro"


def test_a_price_edit_applies_to_the_next_renewal(billing, clock):
    agent = billing.agent(balance=10 * ENTERPRISE_XMR)
    billing.upgraded(agent, "pro")
    billing.http.patch("/admin/plans/pro", json={"price_usd_cents": 3_900}, headers=billing.admin)
    billing.walk_to(utc(2026, 2, 15, 12))
    assert [i.usd_cents for i in billing.invoices(agent)] == [2_900, 3_900]


def test_no_rate_no_charge_and_the_renewal_waits(make_billing, feeds, clock):
    billing = make_billing(rate_sources=feeds.sources)
    agent = billing.agent(balance=10 * PRO_XMR)
    billing.upgraded(agent, "pro")  # rate fetched Jan 15
    feeds.kraken = feeds.coingecko = ("status", 503)
    report = billing.walk_to(utc(2026, 2, 15, 12))  # the cached rate is a month old
    assert report["counts"] == {"rate_unavailable": 1}
    assert len(billing.invoices(agent)) == 1 and len(billing.charges(agent)) == 1
    assert billing.subscription(agent).status == "active"
    feeds.coingecko = "151.25"
    assert billing.walk_to(utc(2026, 2, 15, 12, 1))["counts"] == {"renewed": 1}
    (_, renewal) = billing.invoices(agent)
    assert (renewal.rate_source, str(renewal.rate_value)) == ("coingecko", "151.25")
    assert renewal.amount_minor == minor_for_cents(2_900, "151.25")


def test_two_sweeps_at_once_invoice_and_charge_each_cycle_once(billing, clock, together):
    clock.set(utc(2026, 1, 31, 12))
    agents = [billing.agent(balance=10 * PRO_XMR) for _ in range(6)]
    for agent in agents:
        billing.upgraded(agent, "pro")
    reports = together(*[lambda: billing.run_renewals(utc(2026, 4, 1)) for _ in range(4)])
    renewed = sum(r["counts"].get("renewed", 0) for r in reports)
    assert renewed == 6 * 2  # Feb 28 and Mar 31, once each, whoever did it
    for agent in agents:
        assert [p[0] for p in periods(billing, agent)] == [1, 2, 3]
        assert len(billing.charges(agent)) == 3


def test_one_invoice_per_subscription_and_cycle_is_a_database_constraint(billing, db):
    agent = billing.agent(balance=10 * PRO_XMR)
    billing.upgraded(agent, "pro")
    with (
        pytest.raises(sa.exc.IntegrityError, match="uq_invoices_subscription_cycle"),
        db.begin() as conn,
    ):
        conn.execute(
            sa.text(
                "INSERT INTO billing.invoices SELECT (SELECT gen_random_uuid()), agent_id, "
                "subscription_id, cycle, kind, 'open', plan_code, usd_cents, asset, amount_minor, "
                "rate_value, rate_source, rate_fetched_at, rate_stale, period_start, period_end, "
                "covered_seconds, level_from_usd_cents, level_to_usd_cents, level_top_usd_cents, "
                "0, charge_scope, charge_key || '-again', NULL, NULL, 0, NULL, NULL, created_at, "
                "NULL, NULL FROM billing.invoices WHERE agent_id = :a"
            ),
            {"a": agent.agent_id},
        )
