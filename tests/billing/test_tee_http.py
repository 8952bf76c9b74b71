"""Billing with PAYMENT_VIA_TEE: charges and tier changes go to a real payment TEE
process over mutual TLS, through the same dispatcher as the gateway's. Billing
runs as a real process here too (`python -m services.billing`)."""

import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from support.factories import books
from support.servers import free_port
from support.tee import LossyProxy, start_tee


@pytest.fixture
def tee(billing_db, database_url, mtls, simulated_chain_dir, tmp_path):
    process = start_tee(database_url, mtls, simulated_chain_dir, tmp_path)
    yield process
    process.stop()


def via_tee(mtls, target: str, **extra: str) -> dict[str, str]:
    return {
        "PAYMENT_VIA_TEE": "true",
        "PAYMENT_TEE_TARGET": target,
        "PAYMENT_TEE_CA": str(mtls.ca),
        "PAYMENT_TEE_CLIENT_CERT": str(mtls.client_cert),
        "PAYMENT_TEE_CLIENT_KEY": str(mtls.client_key),
        "PAYMENT_TEE_TIMEOUT_SECONDS": "3",
        **extra,
    }


def test_upgrades_are_charged_and_tiers_set_inside_the_tee(start_api, mtls, tee, db):
    billing = start_api(**via_tee(mtls, tee.target, PAYMENT_TEE_FALLBACK="false"))
    agent = billing.agent(balance=10**13)
    body = billing.upgraded(agent, "pro")
    assert body["receipt"]["signer"] == "tee" and body["receipt"]["kind"] == "charge"
    assert billing.core_tier(agent) == "pro"
    assert billing.tier(agent)["tier"] == "pro"
    books(db).assert_balanced()


def test_a_charge_whose_answer_was_lost_after_commit_is_charged_once(start_api, mtls, tee, db):
    proxy = LossyProxy(tee.grpc_port)
    try:
        billing = start_api(**via_tee(mtls, proxy.target))
        agent = billing.agent(balance=10**13)
        proxy.holding.set()  # from now on the TEE's answers are lost on the way

        def kill_when_charged() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with db.connect() as conn:
                    charged = conn.execute(
                        sa.text(
                            "SELECT count(*) FROM ledger.entries "
                            "WHERE kind = 'charge' AND idempotency_key = 'lost-answer-01'"
                        )
                    ).scalar_one()
                if charged:
                    tee.kill()  # dies after its commit, before its reply
                    proxy.cut()
                    return
                time.sleep(0.02)

        watcher = threading.Thread(target=kill_when_charged)
        watcher.start()
        r = billing.upgrade(agent, "pro", key="lost-answer-01")
        watcher.join()
        assert r.status_code == 200, r.text
        assert r.json()["receipt"]["signer"] == "tee"  # the TEE's own, replayed by the fallback
        assert len(billing.charges(agent)) == 1
        assert billing.core_tier(agent) == "pro"
        metrics = billing.http.get("/metrics").text
        assert 'sealpay_tee_dispatch_total{outcome="fallback_unreachable"}' in metrics
    finally:
        proxy.close()
    books(db).assert_balanced()


def test_with_no_payment_core_nothing_is_charged_or_recorded(start_api, mtls):
    billing = start_api(**via_tee(mtls, f"127.0.0.1:{free_port()}", PAYMENT_TEE_FALLBACK="false"))
    agent = billing.agent(balance=10**13)
    r = billing.upgrade(agent, "pro", key=f"no-core-{uuid.uuid4()}")
    assert (r.status_code, r.json()["code"]) == (503, "payment_core_unavailable")
    assert billing.invoices(agent) == [] and billing.charges(agent) == []
    assert billing.core_tier(agent) == "free"
