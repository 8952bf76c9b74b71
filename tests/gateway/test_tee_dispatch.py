"""The gateway with PAYMENT_VIA_TEE: real TEE process, real mTLS, real HTTP.

Fallback to the in-process core only when the TEE cannot answer; never on a
refusal; never at all with PAYMENT_TEE_FALLBACK=false; and a transfer the TEE
committed but whose answer was lost is replayed, not executed twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
import sqlalchemy as sa
from sealpay import SealpayClient, TEEVerificationError
from sealpay.attestation.simulate import SimulatedAmdChain
from support.factories import AUDIT_KEY, MARCH_15, books
from support.servers import free_port, serve
from support.tee import SIMULATED_MEASUREMENT, LossyProxy, start_tee

from services.common.clock import FixedClock
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

ADMIN = "test-admin-token-0123456789"


@pytest.fixture
def tee(db, database_url, mtls, simulated_chain_dir, tmp_path):
    process = start_tee(database_url, mtls, simulated_chain_dir, tmp_path)
    yield process
    process.stop()


@contextmanager
def gateway(db, database_url, mtls, target, **overrides):
    values = {
        "sealpay_env": "test",
        "database_url": database_url,
        "sealpay_admin_token": ADMIN,
        "ledger_audit_key": AUDIT_KEY.decode(),
        "auth_cache_seconds": 0,
        "payment_via_tee": True,
        "payment_tee_target": target,
        "payment_tee_ca": mtls.ca,
        "payment_tee_client_cert": mtls.client_cert,
        "payment_tee_client_key": mtls.client_key,
        "payment_tee_timeout_seconds": 3,
        "tee_health_interval_seconds": 0.2,
    }
    settings = GatewaySettings(**{**values, **overrides})
    app = create_app(settings, engine=db, clock=FixedClock(MARCH_15))
    with serve(app) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield app, http


def register(http, name):
    body = http.post("/v2/agents", json={"name": name}).json()
    return body["agent_id"], {"Authorization": f"Bearer {body['api_key']}"}


def credit(http, agent_id, amount):
    r = http.post(
        "/v2/admin/credits",
        json={"agent_id": agent_id, "amount": amount},
        headers={"Authorization": f"Bearer {ADMIN}", "Idempotency-Key": f"credit-{uuid.uuid4()}"},
    )
    assert r.status_code == 201, r.text


def pay(http, auth, to, amount, key=None):
    return http.post(
        "/v2/payments/hub-routing",
        json={"to_agent": to, "amount": amount},
        headers={**auth, "Idempotency-Key": key or f"pay-{uuid.uuid4()}"},
    )


def metric(http, name, labels=""):
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


def test_payments_go_through_the_tee_and_refusals_are_not_fallen_back(db, database_url, mtls, tee):
    with gateway(db, database_url, mtls, tee.target) as (_, http):
        alice, alice_auth = register(http, "alice")
        register(http, "bob")
        credit(http, alice, 100_000)
        r = pay(http, alice_auth, "bob", 10_000)
        assert r.status_code == 201 and r.json()["signer"] == "tee"
        assert http.get("/v2/me/balance", headers=alice_auth).json()["available"] == 90_000
        deadline = time.monotonic() + 5
        while metric(http, "sealpay_tee_up") != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metric(http, "sealpay_tee_up") == 1
        tee_before = metric(http, "sealpay_tee_dispatch_total", 'outcome="tee"')
        refused = pay(http, alice_auth, "bob", 1_000_000)
        assert refused.status_code == 402 and refused.json()["code"] == "insufficient_funds"
        assert metric(http, "sealpay_tee_dispatch_total", 'outcome="refused"') >= 1
        assert metric(http, "sealpay_tee_dispatch_total", 'outcome="fallback_unreachable"') == 0
        assert metric(http, "sealpay_tee_dispatch_total", 'outcome="tee"') == tee_before
    books(db).assert_balanced()


def test_an_unreachable_tee_falls_back_to_the_same_ledger(db, database_url, mtls):
    dead = f"127.0.0.1:{free_port()}"
    with gateway(db, database_url, mtls, dead) as (_, http):
        alice, alice_auth = register(http, "alice")
        register(http, "bob")
        credit(http, alice, 100_000)
        r = pay(http, alice_auth, "bob", 10_000)
        assert r.status_code == 201 and r.json()["signer"] == "gateway"
        assert metric(http, "sealpay_tee_dispatch_total", 'outcome="fallback_unreachable"') >= 3
        time.sleep(0.5)
        assert metric(http, "sealpay_tee_up") == 0


def test_with_fallback_forbidden_an_unreachable_tee_is_503_and_nothing_moves(
    db, database_url, mtls
):
    dead = f"127.0.0.1:{free_port()}"
    with gateway(db, database_url, mtls, dead, payment_tee_fallback=False) as (_, http):
        r = http.post("/v2/agents", json={"name": "alice"})
        assert r.status_code == 503
        assert r.json()["code"] == "payment_core_unavailable"
        assert r.headers["retry-after"] == "1"
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM gateway.agents")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM ledger.entries")).scalar_one() == 0


def test_an_answer_lost_after_commit_is_replayed_not_executed_twice(db, database_url, mtls, tee):
    proxy = LossyProxy(tee.grpc_port)
    try:
        with gateway(db, database_url, mtls, proxy.target, payment_tee_timeout_seconds=30) as (
            _,
            http,
        ):
            alice, alice_auth = register(http, "alice")
            register(http, "bob")
            credit(http, alice, 100_000)
            proxy.holding.set()  # from now on the TEE's answers are lost on the way

            def cut_when_committed():
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    with db.connect() as conn:
                        committed = conn.execute(
                            sa.text(
                                "SELECT count(*) FROM ledger.entries "
                                "WHERE idempotency_key = 'order-lost-1'"
                            )
                        ).scalar_one()
                    if committed:
                        tee.kill()  # the TEE dies after its commit, before its reply
                        proxy.cut()
                        return
                    time.sleep(0.02)

            watcher = threading.Thread(target=cut_when_committed)
            watcher.start()
            r = pay(http, alice_auth, "bob", 10_000, key="order-lost-1")
            watcher.join()
            assert r.status_code == 201, r.text
            assert r.headers["Idempotent-Replayed"] == "true"
            receipt = r.json()
            assert receipt["signer"] == "tee"  # the original, signed inside the TEE
            assert http.get("/v2/me/balance", headers=alice_auth).json()["available"] == 90_000
            assert metric(http, "sealpay_tee_dispatch_total", 'outcome="fallback_unreachable"') >= 1
    finally:
        proxy.close()
    with db.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM ledger.entries WHERE kind = 'hub_routing'")
        ).scalar_one()
    assert count == 1
    books(db).assert_balanced()


def test_the_sdk_verifies_the_tee_end_to_end(db, database_url, mtls, tee, simulated_chain_dir):
    ark = SimulatedAmdChain.load(simulated_chain_dir).ark_pem
    with gateway(db, database_url, mtls, tee.target) as (_, http):
        alice, alice_auth = register(http, "alice")
        register(http, "bob")
        credit(http, alice, 100_000)
        api_key = alice_auth["Authorization"].split()[1]
        base = str(http.base_url)
        with SealpayClient(
            base,
            api_key,
            verify_tee=True,
            expected_measurements=[SIMULATED_MEASUREMENT],
            simulated_ark=ark,
        ) as client:
            receipt = client.pay("bob", 10_000)
            assert receipt.signer == "tee" and receipt.fee == 30
            assert client.attestation().measurement == SIMULATED_MEASUREMENT
        flipped = bytearray(SIMULATED_MEASUREMENT)
        flipped[0] ^= 0x01
        with (
            SealpayClient(
                base,
                api_key,
                verify_tee=True,
                expected_measurements=[bytes(flipped)],
                simulated_ark=ark,
            ) as client,
            pytest.raises(TEEVerificationError) as refused,
        ):
            client.pay("bob", 10_000)
        assert refused.value.code == "measurement_not_allowed"
        # Refused before any money moved.
        assert http.get("/v2/me/balance", headers=alice_auth).json()["available"] == 90_000


def test_a_fallback_receipt_fails_tee_verification(
    db, database_url, mtls, tee, simulated_chain_dir
):
    ark = SimulatedAmdChain.load(simulated_chain_dir).ark_pem
    with gateway(db, database_url, mtls, tee.target) as (_, http):
        alice, alice_auth = register(http, "alice")
        register(http, "bob")
        credit(http, alice, 100_000)
        api_key = alice_auth["Authorization"].split()[1]
        with SealpayClient(
            str(http.base_url), api_key, verify_tee=True,
            expected_measurements=[SIMULATED_MEASUREMENT], simulated_ark=ark,
        ) as client:  # fmt: skip
            client.attestation()  # attested while the TEE is up
            tee.kill()
            with pytest.raises(TEEVerificationError) as refused:
                client.pay("bob", 10_000)
        assert refused.value.receipt is not None
        assert refused.value.receipt.signer == "gateway"


def test_the_gateway_keeps_money_away_from_a_tee_that_does_not_attest(
    db, database_url, mtls, tee, simulated_chain_dir
):
    wrong = "00" * 48
    with gateway(
        db, database_url, mtls, tee.target, payment_tee_fallback=False,
        tee_expected_measurements=wrong,
        tee_simulated_ark=simulated_chain_dir / "ark.pem",
    ) as (app, http):  # fmt: skip
        time.sleep(1.0)  # let the checker try
        assert app.state.dispatcher.tee_trusted is False
        r = http.post("/v2/agents", json={"name": "alice"})
        assert r.status_code == 503 and r.json()["code"] == "payment_core_unavailable"
        assert metric(http, "sealpay_tee_attested") == 0
    right = SIMULATED_MEASUREMENT.hex()
    with gateway(
        db, database_url, mtls, tee.target, payment_tee_fallback=False,
        tee_expected_measurements=right,
        tee_simulated_ark=simulated_chain_dir / "ark.pem",
    ) as (app, http):  # fmt: skip
        deadline = time.monotonic() + 10
        while not app.state.dispatcher.tee_trusted and time.monotonic() < deadline:
            time.sleep(0.1)
        assert app.state.dispatcher.tee_trusted is True
        assert http.post("/v2/agents", json={"name": "alice"}).status_code == 201
        assert metric(http, "sealpay_tee_attested") == 1


@contextmanager
def impostor(mtls, port):
    """A server that holds the TEE's TLS identity and says SERVING, but runs no
    payment service: GetAttestation answers UNIMPLEMENTED."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("sealpay.payments.v1.Payments", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials(
        [(mtls.server_key.read_bytes(), mtls.server_cert.read_bytes())],
        root_certificates=mtls.ca.read_bytes(),
        require_client_auth=True,
    )
    assert server.add_secure_port(f"127.0.0.1:{port}", credentials) == port
    server.start()
    try:
        yield
    finally:
        server.stop(grace=None)


def test_what_answers_after_the_tee_goes_down_must_attest_again(
    db, database_url, mtls, tee, simulated_chain_dir
):
    with gateway(
        db, database_url, mtls, tee.target, payment_tee_fallback=False,
        tee_expected_measurements=SIMULATED_MEASUREMENT.hex(),
        tee_simulated_ark=simulated_chain_dir / "ark.pem",
    ) as (app, http):  # fmt: skip
        dispatcher, checker = app.state.dispatcher, app.state.tee_checker
        assert wait_for(lambda: dispatcher.tee_trusted)
        failed = 'result="failed"'
        failures = metric(http, "sealpay_tee_attestation_checks_total", failed)
        tee.kill()
        assert wait_for(lambda: not dispatcher.tee_trusted)  # down: trust is gone
        with impostor(mtls, int(tee.target.rpartition(":")[2])):
            assert wait_for(lambda: metric(http, "sealpay_tee_up") == 1)
            assert wait_for(
                lambda: metric(http, "sealpay_tee_attestation_checks_total", failed) > failures
            )
            # The impostor's UNIMPLEMENTED is a failed check, not the checker's end.
            assert dispatcher.tee_trusted is False and not checker._task.done()
            r = http.post("/v2/agents", json={"name": "alice"})
            assert r.status_code == 503 and r.json()["code"] == "payment_core_unavailable"
            assert metric(http, "sealpay_tee_attested") == 0


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_tee_replaced_between_health_polls_is_caught_by_its_receipt_key(
    db, database_url, mtls, tee, simulated_chain_dir, tmp_path
):
    """A TEE restarted (or replaced) between two health polls is never seen down, so
    the poll alone would keep trusting whatever answers at the address. Its first
    receipt gives it away: signed by a key the attestation did not vouch for, it
    withdraws trust until the new instance attests."""
    with gateway(
        db, database_url, mtls, tee.target, payment_tee_fallback=False,
        tee_expected_measurements=SIMULATED_MEASUREMENT.hex(),
        tee_simulated_ark=simulated_chain_dir / "ark.pem",
        tee_health_interval_seconds=3600,  # no poll sees the restart
    ) as (app, http):  # fmt: skip
        dispatcher = app.state.dispatcher
        assert wait_for(lambda: dispatcher.tee_trusted)
        alice, auth = register(http, "alice")
        register(http, "bob")
        credit(http, alice, 100_000)
        attested = pay(http, auth, "bob", 1_000).json()["signing_key"]

        tee.kill()
        port = tee.target.rpartition(":")[2]
        replaced = start_tee(
            database_url, mtls, simulated_chain_dir, tmp_path, extra_env={"PAYMENT_TEE_PORT": port}
        )
        try:
            r = pay(http, auth, "bob", 2_000)  # posted by the new instance
            assert r.status_code == 201 and r.json()["signing_key"] != attested
            assert dispatcher.tee_trusted is False
            assert metric(http, "sealpay_tee_attested") == 0
            r = pay(http, auth, "bob", 3_000)
            assert (r.status_code, r.json()["code"]) == (503, "payment_core_unavailable")
        finally:
            replaced.stop()


def test_readiness_says_whether_money_can_move(db, database_url, mtls):
    """A gateway whose TEE cannot answer, with the fallback off, answers every money
    call 503: a load balancer must not send it traffic. With the fallback on, it
    can serve. The cause stays out of the public answer."""
    dead = f"127.0.0.1:{free_port()}"
    with gateway(db, database_url, mtls, dead, payment_tee_fallback=False) as (_, http):
        assert wait_for(lambda: http.get("/readyz").status_code == 503)
        assert http.get("/readyz").json() == {
            "status": "unavailable",
            "database": "ok",
            "payment_core": "unavailable",
        }
    with gateway(db, database_url, mtls, dead, payment_tee_fallback=True) as (_, http):
        time.sleep(0.5)  # a few health polls: the TEE is down, the fallback serves
        r = http.get("/readyz")
        assert r.status_code == 200 and r.json()["payment_core"] == "ok"
