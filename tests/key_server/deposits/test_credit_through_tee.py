"""Deposit credits through the payment TEE (real process, real mTLS) when its answers
are lost: the TEE commits the Credit, the worker never hears back and retries; the
retries carry the same idempotency key, so the deposit is credited exactly once."""

import time

import pytest
import sqlalchemy as sa
from support.factories import books, new_holder
from support.tee import LossyProxy, start_tee


def tee_env(target: str, mtls, **extra: str) -> dict[str, str]:
    """The worker's settings for crediting through the TEE, without fallback."""
    return {
        "PAYMENT_VIA_TEE": "true",
        "PAYMENT_TEE_FALLBACK": "false",
        "PAYMENT_TEE_TARGET": target,
        "PAYMENT_TEE_CA": str(mtls.ca),
        "PAYMENT_TEE_CLIENT_CERT": str(mtls.client_cert),
        "PAYMENT_TEE_CLIENT_KEY": str(mtls.client_key),
        **extra,
    }


def credit_of(key_server, txid: str):
    """The deposit credit owed for the transaction's output."""
    with key_server.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT status, attempts, last_error FROM key_server.deposit_credits "
                "WHERE idempotency_key LIKE '%' || :tx || '%'"
            ),
            {"tx": txid},
        ).one()


@pytest.fixture
def tee(db, database_url, mtls, simulated_chain_dir, tmp_path):
    process = start_tee(database_url, mtls, simulated_chain_dir, tmp_path)
    yield process
    process.stop()


def test_a_lost_answer_is_retried_and_credits_once(
    key_server, core, tee, mtls, start_worker, wait_until
):
    proxy = LossyProxy(tee.grpc_port)
    try:
        agent = new_holder(core)
        # Credited in the ledger's default asset, the one every holder has an account in.
        key_server.chain("tbtc", asset="XMR")
        key_server.watcher()
        address = key_server.deposit_address(agent, "tbtc").json()["address"]
        start_worker(**tee_env(proxy.target, mtls, PAYMENT_TEE_TIMEOUT_SECONDS="1"))
        # A first deposit goes through the TEE normally (and opens the mTLS channel).
        key_server.post_event(
            key_server.event(address, 1_000, 2, key_server.txid("first"), chain="tbtc")
        )
        wait_until(lambda: core.balance(agent).available == 1_000, what="the first credit")
        proxy.holding.set()  # the TEE gets every request; the worker gets no answer
        r = key_server.post_event(
            key_server.event(address, 42_000, 2, key_server.txid("lost"), chain="tbtc")
        )
        assert r.status_code == 200 and r.json()["confirmed"], r.text
        wait_until(lambda: core.balance(agent).available == 43_000, what="the TEE's commit")

        def credit():
            return credit_of(key_server, key_server.txid("lost"))

        wait_until(lambda: credit().attempts >= 2, what="two unanswered attempts")
        assert credit().status == "owed"  # we never heard back, so it is still owed
        proxy.holding.clear()
        proxy.cut()
        wait_until(lambda: credit().status == "credited", timeout=40, what="the credit")
        time.sleep(0.5)
        assert core.balance(agent).available == 43_000  # once, despite every retry
        entries = books(core.engine)
        assert entries.entries == 2
        entries.assert_balanced()
    finally:
        proxy.close()


def test_no_credit_goes_to_a_tee_that_does_not_attest(
    key_server, core, tee, mtls, simulated_chain_dir, start_worker, wait_until
):
    agent = new_holder(core)
    key_server.chain("tbtc", asset="XMR")
    key_server.watcher()
    address = key_server.deposit_address(agent, "tbtc").json()["address"]
    start_worker(
        **tee_env(
            tee.target,
            mtls,
            TEE_EXPECTED_MEASUREMENTS="00" * 48,  # not what the (simulated) TEE measures
            TEE_SIMULATED_ARK=str(simulated_chain_dir / "ark.pem"),
            TEE_HEALTH_INTERVAL_SECONDS="0.2",
        )
    )
    txid = key_server.txid("unattested")
    r = key_server.post_event(key_server.event(address, 5_000, 2, txid, chain="tbtc"))
    assert r.status_code == 200 and r.json()["confirmed"], r.text

    wait_until(lambda: credit_of(key_server, txid).attempts >= 2, what="two refused attempts")
    owed = credit_of(key_server, txid)
    assert owed.status == "owed" and "attestation" in owed.last_error
    assert core.balance(agent).available == 0
    assert books(core.engine).entries == 0
