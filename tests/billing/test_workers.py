"""Real procrastinate workers (`python -m services.billing worker` processes) sweeping
at the same time as each other and as operators: no invoice and no charge twice."""

import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import procrastinate
import pytest
from support.factories import books

from services.billing import jobs
from services.billing.db import SEARCH_PATH_OPTIONS, conninfo
from services.billing.periods import add_months
from services.common.clock import rfc3339

PRO_XMR = int((Fraction(2_900, 100) / Fraction("150.00") * 10**12 * 2 + 1) // 2)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def job_queue(database_url):
    """A synchronous procrastinate app on the billing schema, to defer jobs from the test."""
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(
            conninfo=conninfo(database_url), kwargs={"options": SEARCH_PATH_OPTIONS}
        )
    )
    with app.open():
        yield app


def open_jobs(billing) -> int:
    (row,) = billing.rows(
        "SELECT count(*) AS n FROM billing.procrastinate_jobs WHERE status IN ('todo', 'doing')"
    )
    return int(row.n)


def test_two_workers_and_an_operator_sweeping_at_once_charge_each_cycle_once(
    billing, clock, start_worker, job_queue, together, eventually, db
):
    clock.set(utc(2026, 1, 31, 12))
    agents = [billing.agent(balance=10 * PRO_XMR) for _ in range(30)]
    poor = [billing.agent(balance=PRO_XMR) for _ in range(6)]  # renewals will fail
    for agent in agents + poor:
        billing.upgraded(agent, "pro")
    at = utc(2026, 4, 1)  # Feb 28 and Mar 31 are due for everyone
    for _ in range(8):
        job_queue.configure_task(jobs.RENEWAL_SWEEP, queue=jobs.RENEWALS_QUEUE).defer(
            at=rfc3339(at)
        )
    started = time.monotonic()
    workers = [start_worker(BILLING_WORKER_CONCURRENCY="4") for _ in range(2)]
    operator_reports = together(*[lambda: billing.run_renewals(at) for _ in range(3)])
    eventually(lambda: open_jobs(billing) == 0, timeout=60, what="the sweeps to finish")
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.stop()  # flush their logs
    sweeps = [r["counts"] for r in operator_reports] + [
        line["counts"] for w in workers for line in w.sweep_logs()
    ]
    renewed = [c.get("renewed", 0) for c in sweeps]
    assert len(sweeps) == 8 + 3
    assert sum(renewed) == 30 * 2  # every renewal done exactly once, by whoever got there
    print(
        f"\n2 workers x 8 sweep jobs + 3 operator sweeps, 36 agents: {elapsed:.2f} s; "
        f"renewals per sweep {renewed}; "
        f"skipped (agent busy elsewhere) {sum(c.get('skipped_busy', 0) for c in sweeps)}"
    )
    failed = billing.rows("SELECT * FROM billing.procrastinate_jobs WHERE status = 'failed'")
    assert failed == []

    for agent in agents:
        assert [(i.cycle, i.status) for i in billing.invoices(agent)] == [
            (1, "paid"),
            (2, "paid"),
            (3, "paid"),
        ]
        assert len(billing.charges(agent)) == 3
        assert billing.balance(agent) == 7 * PRO_XMR
        assert billing.events(agent).count("subscription.renewed") == 2
    for agent in poor:
        # Due Feb 28, unpaid, grace over by Apr 1: failed once and lapsed once,
        # however many sweeps ran.
        assert [(i.cycle, i.status) for i in billing.invoices(agent)] == [(1, "paid"), (2, "void")]
        sub = billing.subscription(agent)
        assert (sub.status, sub.consecutive_failures) == ("lapsed", 1)
        events = billing.events(agent)
        assert (
            events.count("subscription.renewal_failed"),
            events.count("subscription.lapsed"),
        ) == (1, 1)
        assert len(billing.charges(agent)) == 1
        assert billing.core_tier(agent) == "free"
    books(db).assert_balanced()


def test_the_periodic_sweep_renews_on_time(billing, clock, start_worker, eventually):
    """A worker with a per-second cron renews a subscription whose period ends
    two seconds from now, on the real clock (the worker runs on the system clock)."""
    target = datetime.now(UTC) + timedelta(seconds=2)
    anchor = add_months(target, -1)
    end = add_months(anchor, 1)  # == target, or a day or three earlier after a clamp: due anyway
    assert end <= target
    clock.set(anchor)
    agent = billing.agent(balance=10 * PRO_XMR)
    billing.upgraded(agent, "pro")
    start_worker(BILLING_RENEWAL_CRON="* * * * * *")
    took = eventually(
        lambda: len(billing.invoices(agent)) == 2 and billing.invoices(agent)[1].status == "paid",
        timeout=30,
        what="the periodic renewal",
    )
    renewal = billing.invoices(agent)[1]
    assert renewal.period_start == end and renewal.paid_at >= end
    assert len(billing.charges(agent)) == 2
    print(f"\nperiodic sweep renewed {took:.2f} s after the test started waiting")
