"""A tier pushed to the core whose billing commit then failed is put back by the
check-up job, which a real worker runs."""

from contextlib import contextmanager

import sqlalchemy as sa

from services.payment_tee.core.tiers import Tier

# A deferred constraint trigger fires at COMMIT: the transaction has done all its
# work (the tier push to the core included) and then cannot commit.
FAIL_PLAN_COMMITS = """
CREATE FUNCTION billing.refuse_commit_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$;
CREATE CONSTRAINT TRIGGER refuse_plan_commit AFTER INSERT ON billing.audit_events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.action = 'plan.set')
  EXECUTE FUNCTION billing.refuse_commit_for_test();
"""


@contextmanager
def plan_commits_fail(db):
    with db.begin() as conn:
        conn.execute(sa.text(FAIL_PLAN_COMMITS))
    try:
        yield
    finally:
        with db.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER refuse_plan_commit ON billing.audit_events"))
            conn.execute(sa.text("DROP FUNCTION billing.refuse_commit_for_test()"))


def set_plan(billing, agent, tier):
    return billing.http.post(
        f"/internal/agents/{agent.id}/plan", json={"tier": tier}, headers=billing.service
    )


def sync_jobs(billing):
    return billing.rows(
        "SELECT status, args FROM billing.procrastinate_jobs "
        "WHERE task_name = 'billing.sync_tier' ORDER BY id"
    )


def test_a_failed_commit_after_the_push_is_undone_in_the_core(
    billing, billing_db, start_worker, eventually
):
    agent = billing.agent()
    assert set_plan(billing, agent, "pro").status_code == 200
    with plan_commits_fail(billing_db):
        r = set_plan(billing, agent, "enterprise")
    assert r.status_code == 500
    # The core took the push, billing's commit did not happen: the drift this repairs.
    assert billing.tier(agent)["tier"] == "pro" and billing.core_tier(agent) == "enterprise"
    # One waiting check-up for the agent, though two pushes deferred one each.
    assert [(j.status, j.args["agent_id"]) for j in sync_jobs(billing)] == [("todo", agent.id)]
    start_worker()
    eventually(lambda: billing.core_tier(agent) == "pro", timeout=30, what="the tier repair")
    eventually(
        lambda: [j.status for j in sync_jobs(billing)] in ([], ["succeeded"]),
        timeout=30,
        what="the check-up to finish",
    )
    assert billing.tier(agent)["tier"] == "pro"
    assert billing.audit(agent).count("plan.set") == 1


def test_a_first_workflow_that_rolled_back_restores_the_core_tier_it_found(
    billing, billing_db, start_worker, eventually
):
    """Billing had no record of the agent: the plan change commits one (at the
    core's tier) before it pushes, so the failed commit still leaves billing's truth."""
    agent = billing.agent()
    with plan_commits_fail(billing_db):
        assert set_plan(billing, agent, "enterprise").status_code == 500
    assert billing.core_tier(agent) == "enterprise"
    # What a quote arriving now would find (it adopts the core's tier only for a stranger):
    assert billing.tier(agent)["tier"] == "free"
    start_worker()
    eventually(lambda: billing.core_tier(agent) == "free", timeout=30, what="the tier repair")


def test_the_check_up_falls_back_to_the_core_tier_before_the_push(
    billing, billing_db, billing_settings
):
    """An agent billing has no row for at all (the row is what set_plan commits
    first; here it is gone): the job's `core_before` is restored."""
    import asyncio

    from services.billing.customers import service as customers
    from services.billing.runtime import build_billing

    agent = billing.agent()
    billing.ledger.set_tier(agent.agent_id, Tier.PRO, actor="test")

    async def check_up() -> str | None:
        runtime = build_billing(billing_settings, engine=billing_db)
        await runtime.start()
        try:
            return await customers.sync_tier(runtime, agent.agent_id, "free")
        finally:
            await runtime.stop()

    assert asyncio.run(check_up()) == "free"
    assert billing.core_tier(agent) == "free"


def test_a_check_up_after_a_committed_change_keeps_the_new_tier(billing, start_worker, eventually):
    agent = billing.agent()
    assert set_plan(billing, agent, "enterprise").status_code == 200
    start_worker()
    eventually(
        lambda: [j.status for j in sync_jobs(billing)] in ([], ["succeeded"]),
        timeout=30,
        what="the check-up",
    )
    assert billing.core_tier(agent) == "enterprise" and billing.tier(agent)["tier"] == "enterprise"


def test_a_check_up_that_finds_the_agent_busy_comes_back_later(
    billing, billing_db, start_worker, eventually
):
    """The workflow holding the agent's lock outlasts the worker's lock timeout: the
    check-up defers a new one instead of failing (procrastinate's retry would
    collide with that one's queueing lock)."""
    from services.billing.db import agent_lock_key

    agent = billing.agent()
    assert set_plan(billing, agent, "pro").status_code == 200
    with billing_db.connect() as holder:
        holder.execute(
            sa.text("SELECT pg_advisory_lock(:k)"), {"k": agent_lock_key(agent.agent_id)}
        )
        worker = start_worker(BILLING_LOCK_TIMEOUT_SECONDS="0.3")
        eventually(
            lambda: "billing.tier.check_postponed" in worker.log_text(),
            timeout=30,
            what="the postponed check-up",
        )

        def sync_jobs():
            return billing.rows(
                "SELECT status, args, scheduled_at - now() AS wait "
                "FROM billing.procrastinate_jobs WHERE task_name = 'billing.sync_tier'"
            )

        # The log line comes before the new check-up is deferred and the
        # postponed one ends (and is deleted): wait for that, still locked.
        eventually(
            lambda: [j.status for j in sync_jobs()] == ["todo"],
            timeout=30,
            what="the postponed check-up to end, leaving its successor",
        )
        holder.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        holder.commit()
    (job,) = sync_jobs()
    assert job.status == "todo" and job.args["agent_id"] == agent.id
    assert 20 < job.wait.total_seconds() <= 30
    assert billing.core_tier(agent) == "pro"


def test_the_backoff_never_overflows():
    from services.billing.jobs import CappedBackoff

    backoff = CappedBackoff(None, base_seconds=1.0, max_seconds=300.0)
    assert [backoff.delay(n) for n in (0, 1, 8, 9, 2_000)] == [1.0, 2.0, 256.0, 300.0, 300.0]
    assert not backoff.is_last(10**6)
