"""A tier pushed to the core whose billing commit then failed is put back by the
check-up job, which a real worker runs."""

from contextlib import contextmanager

import sqlalchemy as sa

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
    agent = billing.agent()  # billing has no record of it yet
    with plan_commits_fail(billing_db):
        assert set_plan(billing, agent, "enterprise").status_code == 500
    assert billing.core_tier(agent) == "enterprise"
    assert (
        billing.rows("SELECT 1 FROM billing.customers WHERE agent_id = :a", a=agent.agent_id) == []
    )
    start_worker()
    eventually(lambda: billing.core_tier(agent) == "free", timeout=30, what="the tier repair")


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
