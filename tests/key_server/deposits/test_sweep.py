"""The sweeper keeps owed credits and pending callbacks from losing their job, and
expires charges nothing reached (jobs/service.py), on the real database."""

import uuid
from datetime import timedelta

import sqlalchemy as sa

from services.key_server.jobs import service as jobs_service


def _jobs(engine, status="todo"):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT task_name, queueing_lock FROM key_server.procrastinate_jobs "
                "WHERE status = :s ORDER BY id"
            ),
            {"s": status},
        ).all()


def test_an_owed_credit_whose_job_vanished_gets_a_new_one(key_server):
    key_server.chain("tbtc", confirmations=1)
    key_server.watcher()
    address = key_server.deposit_address(uuid.uuid4()).json()["address"]
    key_server.post_event(key_server.event(address, 1_000, 1, key_server.txid("orphan")))
    [(task, lock)] = _jobs(key_server.engine)
    assert task == "key_server.credit_deposit" and lock.startswith("credit:")
    later = key_server.clock.now() + timedelta(minutes=5)
    with key_server.engine.begin() as conn:  # while its job waits, nothing is added
        assert jobs_service.sweep(conn, later) == jobs_service.SweepReport(0, 0, 0)
    with key_server.engine.begin() as conn:  # an operator deletes the job
        conn.execute(sa.text("DELETE FROM key_server.procrastinate_jobs"))
    with key_server.engine.begin() as conn:
        assert jobs_service.sweep(conn, later).redeferred_credits == 1
    assert _jobs(key_server.engine) == [(task, lock)]


def test_the_sweep_expires_due_charges_and_defers_their_callbacks(key_server):
    key_server.chain("tbtc")
    r = key_server.create_charge(
        chain="tbtc",
        amount=5,
        reference="inv-9",
        expires_in=60,
        callback_url="http://127.0.0.1:9/hook",
    )
    charge_id = r.json()["charge_id"]
    with key_server.engine.begin() as conn:
        report = jobs_service.sweep(conn, key_server.clock.now() + timedelta(seconds=60))
    assert report.settled_charges == 1
    with key_server.engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM key_server.charges WHERE id = :id"), {"id": charge_id}
        ).scalar_one()
    assert status == "expired"
    assert [task for task, _ in _jobs(key_server.engine)] == ["key_server.deliver_callback"]


def test_an_orphan_behind_a_full_batch_of_retrying_credits_still_gets_a_job(
    key_server, monkeypatch
):
    """Older credits whose jobs are merely retrying (the core away for hours) must not
    fill the sweep's batch and hide a newer credit whose job vanished."""
    monkeypatch.setattr(jobs_service, "BATCH", 2)
    key_server.chain("tbtc", confirmations=1)
    key_server.watcher()
    for n in range(3):
        address = key_server.deposit_address(uuid.uuid4()).json()["address"]
        key_server.post_event(key_server.event(address, 1_000, 1, key_server.txid(f"d{n}")))
        key_server.clock.advance(timedelta(seconds=1))
    *retrying, (_, orphan_lock) = _jobs(key_server.engine)
    with key_server.engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM key_server.procrastinate_jobs WHERE queueing_lock = :l"),
            {"l": orphan_lock},
        )
    later = key_server.clock.now() + timedelta(minutes=5)
    with key_server.engine.begin() as conn:
        assert jobs_service.sweep(conn, later).redeferred_credits == 1
    assert [lock for _, lock in _jobs(key_server.engine)] == [
        *(lock for _, lock in retrying),
        orphan_lock,
    ]


def test_a_redeferred_callback_keeps_its_place_in_its_charges_order(key_server):
    key_server.chain("tbtc")
    r = key_server.create_charge(
        chain="tbtc",
        amount=5,
        reference="inv-10",
        expires_in=60,
        callback_url="http://127.0.0.1:9/hook",
    )
    charge_id = r.json()["charge_id"]
    later = key_server.clock.now() + timedelta(seconds=60)
    with key_server.engine.begin() as conn:
        jobs_service.sweep(conn, later)  # expires it: its callback's job is deferred
        conn.execute(sa.text("DELETE FROM key_server.procrastinate_jobs"))  # and vanishes
    with key_server.engine.begin() as conn:
        assert jobs_service.sweep(conn, later + timedelta(minutes=5)).redeferred_callbacks == 1
    with key_server.engine.connect() as conn:
        locks = conn.execute(
            sa.text("SELECT lock FROM key_server.procrastinate_jobs WHERE status = 'todo'")
        ).scalars()
        assert list(locks) == [f"charge-callbacks:{charge_id}"]
