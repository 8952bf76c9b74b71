"""A renewal charge that posted in the payment core but never reached billing's
books (its answer lost, or the worker crashed before recording it).

Billing must not lapse or void such an invoice on a guess: it settles the charge
in the core first (CancelCharge). A charge that posted renews the subscription
(at lapse) or is refunded in full (on any other void); one that did not is
cancelled, and no retry or late request can ever take the money afterwards.
"""

from datetime import UTC, datetime, timedelta

import pytest
from support.factories import books
from support.servers import free_port
from support.tee import payment_via_tee

from services.billing.invoices.repository import Invoice
from services.billing.invoices.service import charge_command
from services.payment_tee.core.errors import ChargeCancelled

from .test_renewals import ENTERPRISE_XMR, PRO_XMR

DUE = datetime(2026, 2, 15, 12, tzinfo=UTC)
GRACE_END = datetime(2026, 2, 22, 12, tzinfo=UTC)
RETRIES = (timedelta(minutes=5), timedelta(minutes=35), timedelta(hours=2, minutes=35))


def past_due_with_retries_exhausted(billing):
    """A pro agent whose Feb 15 renewal failed five times (no retry left), balance 0."""
    agent = billing.agent(balance=PRO_XMR)
    billing.upgraded(agent, "pro")  # Jan 15 12:00
    at = DUE
    for step in (timedelta(0), *RETRIES, timedelta(hours=8, minutes=35)):
        report = billing.walk_to(DUE + step)
        assert report["counts"] == {"renewal_failed": 1}, (step, report)
        at = DUE + step
    sub = billing.subscription(agent)
    assert (sub.status, sub.consecutive_failures, sub.next_attempt_at) == ("past_due", 5, None)
    assert at < GRACE_END
    return agent


def open_renewal(billing, agent) -> Invoice:
    (row,) = [i for i in billing.invoices(agent) if i.status == "open"]
    return Invoice(**row._asdict())


def test_a_renewal_charged_but_never_recorded_renews_instead_of_lapsing(billing, db):
    agent = past_due_with_retries_exhausted(billing)
    billing.fund(agent, PRO_XMR)
    invoice = open_renewal(billing, agent)
    # The lost attempt: the core posted the charge, billing never heard back.
    lost = billing.ledger.charge(charge_command(invoice)).receipt
    assert billing.balance(agent) == 0

    report = billing.walk_to(GRACE_END)

    assert report["counts"] == {"renewed": 1}, report
    sub = billing.subscription(agent)
    assert (sub.status, sub.cycle, sub.current_period_end) == (
        "active",
        2,
        datetime(2026, 3, 15, 12, tzinfo=UTC),
    )
    paid = [i for i in billing.invoices(agent) if i.cycle == 2]
    assert [(i.status, str(i.charge_id)) for i in paid] == [("paid", lost.payment_id)]
    assert billing.core_tier(agent) == "pro"
    assert len(billing.charges(agent)) == 2  # the upgrade and the one renewal: nothing twice
    assert billing.balance(agent) == 0
    books(db).assert_balanced()


def test_a_lapse_cancels_the_renewal_charge_for_good(billing, db):
    agent = past_due_with_retries_exhausted(billing)
    invoice = open_renewal(billing, agent)

    assert billing.walk_to(GRACE_END)["counts"] == {"lapsed": 1}

    billing.fund(agent, PRO_XMR)  # money arrives; a straggling retry must not take it
    with pytest.raises(ChargeCancelled):
        billing.ledger.charge(charge_command(invoice))
    assert billing.balance(agent) == PRO_XMR
    assert [i.status for i in billing.invoices(agent)] == ["paid", "void"]
    assert "invoice.refunded" not in billing.events(agent)
    books(db).assert_balanced()


def test_voiding_an_invoice_whose_charge_posted_refunds_it_in_full(billing, db):
    agent = past_due_with_retries_exhausted(billing)
    billing.fund(agent, PRO_XMR)
    invoice = open_renewal(billing, agent)
    lost = billing.ledger.charge(charge_command(invoice)).receipt

    r = billing.downgrade(agent, "free", immediate=True)  # closes the subscription

    assert r.status_code == 200, r.text
    assert billing.subscription(agent).status == "cancelled"
    (voided,) = [i for i in billing.invoices(agent) if i.cycle == 2]
    assert (voided.status, voided.refunded_minor) == ("void", PRO_XMR)
    assert str(voided.charge_id) == lost.payment_id  # the void keeps the charge it refunded
    assert billing.balance(agent) == PRO_XMR  # the lost charge came back, exactly
    refunds = billing.rows(
        "SELECT amount, related_entry_id FROM ledger.entries "
        "WHERE kind = 'refund' AND payee_owner_id = :a",
        a=agent.agent_id,
    )
    assert [(r.amount, str(r.related_entry_id)) for r in refunds] == [(PRO_XMR, lost.payment_id)]
    assert billing.events(agent).count("invoice.refunded") == 1
    books(db).assert_balanced()


def test_a_plan_change_waits_for_a_renewal_the_core_could_not_charge(make_billing, clock, mtls, db):
    clock.set(datetime(2026, 1, 15, 12, tzinfo=UTC))
    billing = make_billing()
    agent = billing.agent(balance=10 * ENTERPRISE_XMR)
    billing.upgraded(agent, "pro")
    billing.stop()
    # At period end the payment core cannot be reached: the renewal is invoiced,
    # its charge has no outcome, and the subscription stays active for a retry.
    dark = make_billing(
        **payment_via_tee(mtls, f"127.0.0.1:{free_port()}", timeout=1),
    )
    assert dark.walk_to(DUE)["counts"] == {"core_unavailable": 1}
    (pending,) = [i for i in dark.invoices(agent) if i.status == "open"]
    assert (pending.cycle, pending.plan_code) == (2, "pro")
    dark.stop()

    billing = make_billing()
    for refused in (billing.upgrade(agent, "enterprise"), billing.downgrade(agent, "free")):
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "renewal_pending"
        assert refused.headers["Retry-After"] == "60"
    assert billing.walk_to(DUE + timedelta(minutes=1))["counts"] == {"renewed": 1}

    billing.upgraded(agent, "enterprise")  # now prorated over the renewed period
    assert billing.walk_to(datetime(2026, 3, 15, 12, tzinfo=UTC))["counts"] == {"renewed": 1}
    sub = billing.subscription(agent)
    assert (sub.plan_code, sub.cycle) == ("enterprise", 3)
    assert billing.core_tier(agent) == "enterprise"
    (third,) = [i for i in billing.invoices(agent) if i.cycle == 3 and i.kind == "cycle"]
    assert (third.plan_code, third.amount_minor, third.status) == (
        "enterprise",
        ENTERPRISE_XMR,
        "paid",
    )
    paid = sum(i.amount_minor for i in billing.invoices(agent) if i.status == "paid")
    assert billing.balance(agent) == 10 * ENTERPRISE_XMR - paid
    books(db).assert_balanced()


def test_a_void_owing_a_refund_is_refunded_by_the_next_sweep(billing, clock, db):
    """An upgrade replacing a past-due subscription voids its renewal invoice in the
    upgrade's own transaction; a charge found posted is refunded after the commit,
    here by the next sweep (phase 2 survives a crash in between)."""
    agent = past_due_with_retries_exhausted(billing)
    billing.fund(agent, PRO_XMR + ENTERPRISE_XMR)
    invoice = open_renewal(billing, agent)
    lost = billing.ledger.charge(charge_command(invoice)).receipt
    clock.set(DUE + timedelta(hours=10))

    billing.upgraded(agent, "enterprise")

    (voided,) = [i for i in billing.invoices(agent) if i.id == invoice.id]
    assert (voided.status, str(voided.charge_id), voided.refunded_minor) == (
        "void",
        lost.payment_id,
        0,  # owed, not yet posted
    )
    assert billing.balance(agent) == 0
    report = billing.run_renewals()
    assert report["counts"] == {"refunded_void": 1}, report
    (voided,) = [i for i in billing.invoices(agent) if i.id == invoice.id]
    assert voided.refunded_minor == PRO_XMR
    assert billing.balance(agent) == PRO_XMR
    assert billing.run_renewals()["counts"] == {}  # refunded once
    assert billing.balance(agent) == PRO_XMR
    assert billing.events(agent).count("invoice.refunded") == 1
    books(db).assert_balanced()


def test_an_upgrade_resumed_after_its_period_ended_is_voided_and_refunded(
    billing, clock, lose_answer, db
):
    """Mid-period, an upgrade's charge posts but its answer is lost, and the payment
    core stays unreachable past the period's end. Resumed then, the proration
    would charge for half a period the agent spent on pro and carry enterprise
    into the next: the intent is voided instead and its charge refunded."""
    agent = billing.agent(balance=10 * ENTERPRISE_XMR)
    billing.upgraded(agent, "pro")  # Jan 15 12:00 to Feb 15 12:00
    clock.set(datetime(2026, 1, 31, 12, tzinfo=UTC))
    lose_answer(
        agent,
        lambda via_tee: via_tee.upgrade(agent, "enterprise", key="mid-period-up-01"),
        "SELECT 1 FROM billing.upgrade_requests WHERE agent_id = :a AND response IS NULL",
    )
    (lost,) = [i for i in billing.invoices(agent) if i.status == "open"]
    assert lost.kind == "proration" and lost.amount_minor > 0
    assert billing.balance(agent) == 10 * ENTERPRISE_XMR - PRO_XMR - lost.amount_minor

    report = billing.walk_to(DUE + timedelta(minutes=1))

    assert report["counts"] == {"released_upgrade": 1, "refunded_void": 1, "renewed": 1}, report
    (voided,) = [i for i in billing.invoices(agent) if i.id == lost.id]
    assert (voided.status, voided.refunded_minor) == ("void", lost.amount_minor)
    sub = billing.subscription(agent)
    assert (sub.plan_code, sub.cycle) == ("pro", 2)
    assert billing.core_tier(agent) == "pro" and billing.tier(agent)["tier"] == "pro"
    assert billing.balance(agent) == 10 * ENTERPRISE_XMR - 2 * PRO_XMR
    (reason,) = [
        r.details["reason"]
        for r in billing.rows(
            "SELECT details FROM billing.audit_events WHERE agent_id = :a "
            "AND action = 'invoice.voided'",
            a=agent.agent_id,
        )
    ]
    assert reason == "period_elapsed"
    books(db).assert_balanced()
