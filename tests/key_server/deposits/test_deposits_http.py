"""Deposit addresses and deposit credits: stable addresses, credits owed in the same
transaction as the confirmation, posted by the worker exactly once, never lost."""

import threading
import uuid

import sqlalchemy as sa
from support.factories import books, new_holder


def test_an_agents_address_is_stable_until_it_asks_for_a_fresh_one(key_server, vectors):
    key_server.chain("tbtc")
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first = key_server.deposit_address(alice).json()
    assert (first["address"], first["index"], first["created"]) == (vectors.VPUB_ADDRESS_0, 0, True)
    assert key_server.deposit_address(alice).json() == {**first, "created": False}
    fresh = key_server.deposit_address(alice, fresh=True).json()
    assert (fresh["address"], fresh["index"], fresh["created"]) == (vectors.VPUB_ADDRESS_1, 1, True)
    assert key_server.deposit_address(alice).json() == {**fresh, "created": False}
    assert key_server.deposit_address(bob).json()["index"] == 2
    chains = key_server.http.get("/chains", headers=key_server.admin).json()["chains"]
    assert chains[0]["addresses_allocated"] == 3


def test_deposit_address_refusals(key_server):
    key_server.chain("tbtc")
    agent = uuid.uuid4()
    r = key_server.deposit_address(agent, "nope")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_chain")
    r = key_server.http.post(
        "/internal/agents/not-a-uuid/deposit-address",
        json={"chain": "tbtc"},
        headers=key_server.service,
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = key_server.http.post(
        f"/internal/agents/{agent}/deposit-address",
        json={"chain": "tbtc"},
        headers=key_server.admin,
    )
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


def test_a_confirmation_owes_its_credit_and_job_in_the_same_transaction(
    key_server, core, start_worker, vectors, wait_until
):
    """With no worker running, the confirmation leaves a credit owed and its job
    waiting; a worker started later pays it."""
    agent = new_holder(core)
    core.open_account(agent, "main", "BTC")
    key_server.chain("tbtc", confirmations=1)
    key_server.watcher()
    address = key_server.deposit_address(agent).json()["address"]
    tx = key_server.txid("owed")
    r = key_server.post_event(key_server.event(address, 5_000, 1, tx, vout=3))
    assert r.status_code == 200 and r.json()["confirmed"] is True
    with key_server.engine.connect() as conn:
        credit = conn.execute(sa.text("SELECT * FROM key_server.deposit_credits")).one()
        job = conn.execute(sa.text("SELECT * FROM key_server.procrastinate_jobs")).one()
    assert credit.status == "owed" and credit.idempotency_key == f"deposit:tbtc:{tx}:3"
    assert (credit.amount, credit.asset, credit.agent_id) == (5_000, "BTC", agent)
    assert (job.task_name, job.status, job.args) == (
        "key_server.credit_deposit",
        "todo",
        {"credit_id": str(credit.id)},
    )
    start_worker()

    def recorded():
        # The worker posts to the ledger first and records the credit after, in
        # its own transaction: wait for the record, not for the balance.
        with key_server.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM key_server.deposit_credits")).one()
        return row if row.status != "owed" else None

    credit = wait_until(recorded, what="the credit's record")
    assert credit.status == "credited" and credit.payment_id and credit.credited_at
    assert core.balance(agent, "BTC").available == 5_000
    books(core.engine).assert_balanced()


def test_racing_duplicate_events_record_one_output_and_credit_once(
    key_server, core, start_worker, vectors, wait_until
):
    agent = new_holder(core)
    core.open_account(agent, "main", "BTC")
    key_server.chain("tbtc", confirmations=1)
    key_server.watcher()
    address = key_server.deposit_address(agent).json()["address"]
    event = key_server.event(address, 77_000, 1, key_server.txid("race"))
    start_worker()
    barrier = threading.Barrier(16)
    results = []

    def post() -> None:
        barrier.wait()
        results.append(key_server.post_event(event))

    threads = [threading.Thread(target=post) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 16, [r.text for r in results]
    assert sorted(r.json()["outcome"] for r in results).count("new") == 1
    assert key_server.count("chain_outputs") == 1 and key_server.count("deposit_credits") == 1
    wait_until(lambda: core.balance(agent, "BTC").available == 77_000, what="the credit")
    # Redelivered again later: still one credit.
    assert key_server.post_event(event).json()["outcome"] == "unchanged"
    assert core.balance(agent, "BTC").available == 77_000
    books(core.engine).assert_balanced()


def test_a_refused_credit_stays_owed_and_is_retried_until_it_posts(
    key_server, core, start_worker, vectors, wait_until
):
    """The agent is not in the ledger yet: the core refuses, the job retries with
    backoff; once the agent exists the credit posts, once, opening the agent's BTC
    main account on the way."""
    agent = uuid.uuid4()  # known to the gateway, not yet to the ledger
    key_server.chain("tbtc", confirmations=1)
    key_server.watcher()
    address = key_server.deposit_address(agent).json()["address"]
    worker = start_worker()
    key_server.post_event(key_server.event(address, 9_000, 1, key_server.txid("retry")))

    def credit():
        with key_server.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT attempts, last_error, status FROM key_server.deposit_credits")
            ).one()

    wait_until(lambda: credit().attempts >= 3, what="three refused attempts")
    refused = credit()
    assert refused.status == "owed" and refused.last_error.startswith("unknown_holder")
    core.register_holder(agent)  # an XMR main account only
    wait_until(lambda: core.balance(agent, "BTC").available == 9_000, what="the credit")
    wait_until(
        lambda: worker.metric("sealpay_deposits_credited_total", chain="tbtc") == 1,
        what="the counter",
    )
    assert books(core.engine).entries == 1
    books(core.engine).assert_balanced()


def test_monero_deposits_credit_xmr_to_the_agents_main_account(
    key_server, core, start_worker, vectors, wait_until
):
    agent = new_holder(core)
    r = key_server.register_chain(
        id="xmr",
        coin="monero",
        network="stagenet",
        public_spend_key=vectors.STAGENET_PUBLIC_SPEND,
        private_view_key=vectors.STAGENET_PRIVATE_VIEW,
        confirmations=10,
    )
    assert r.status_code == 201, r.text
    key_server.watcher()
    deposit = key_server.deposit_address(agent, "xmr").json()
    assert (deposit["index"], deposit["address"]) == (1, vectors.STAGENET_SUBADDRESS_0_1)
    start_worker()
    r = key_server.post_event(
        key_server.event(
            deposit["address"], 2_500_000_000_000, 10, key_server.txid("xmr"), chain="xmr"
        )
    )
    assert r.status_code == 200 and r.json()["confirmed"], r.text
    wait_until(lambda: core.balance(agent).available == 2_500_000_000_000, what="the credit")
    assert core.balance(agent).asset == "XMR"
