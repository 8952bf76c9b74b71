"""The payment TEE as a real process: gRPC over mutual TLS, refusals as status
codes, receipts signed by the attested key, attestation over gRPC and HTTPS."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sealpay.attestation import verify_attestation_document
from sealpay.attestation.simulate import SimulatedAmdChain
from support.factories import books
from support.tee import REPO, SIMULATED_MEASUREMENT, start_tee

from scripts import mtls_material
from services.payment_tee import wire
from services.protos.sealpay.payments.v1 import payments_pb2 as pb
from services.protos.sealpay.payments.v1 import payments_pb2_grpc as pb_grpc

OPTIONS = [("grpc.ssl_target_name_override", "payment-tee")]


@pytest.fixture
def tee(db, database_url, mtls, simulated_chain_dir, tmp_path):
    process = start_tee(database_url, mtls, simulated_chain_dir, tmp_path)
    yield process
    process.stop()


def channel(target, mtls, cert=None, key=None, ca=None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=(ca or mtls.ca).read_bytes(),
        private_key=(key or mtls.client_key).read_bytes() if key is not False else None,
        certificate_chain=(cert or mtls.client_cert).read_bytes() if cert is not False else None,
    )
    return grpc.secure_channel(target, creds, options=OPTIONS)


def account(owner, name="main"):
    return pb.AccountRef(owner_id=str(owner), name=name, asset="XMR")


def fund(stub, owner, amount):
    return stub.Credit(
        pb.CreditRequest(
            account=account(owner), amount=amount, idempotency_key=f"fund-{uuid.uuid4()}",
            source="credits:manual", scope="admin", actor="test",
        )
    )  # fmt: skip


def holder(stub, amount=0):
    owner = uuid.uuid4()
    stub.RegisterHolder(pb.RegisterHolderRequest(owner_id=str(owner)))
    if amount:
        fund(stub, owner, amount)
    return owner


def pay(stub, payer, payee, amount, key=None):
    return stub.Transfer(
        pb.TransferRequest(
            kind=pb.TRANSFER_KIND_HUB_ROUTING, payer=account(payer), payee=account(payee),
            amount=amount, idempotency_key=key or f"pay-{uuid.uuid4()}",
        )
    )  # fmt: skip


def test_health_checking_says_serving(tee, mtls):
    with channel(tee.target, mtls) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "sealpay.payments.v1.Payments", "sealpay.payments.v1.Attestation"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_receipts_are_signed_inside_by_the_attested_key(tee, mtls, simulated_chain_dir, db):
    with channel(tee.target, mtls) as ch:
        stub = pb_grpc.PaymentsStub(ch)
        alice, bob = holder(stub, 100_000), holder(stub)
        reply = pay(stub, alice, bob, 10_000)
        assert (reply.receipt.fee, reply.receipt.net, reply.receipt.signer) == (30, 9_970, "tee")
        nonce = os.urandom(32)
        doc = wire.document_from_pb(
            pb_grpc.AttestationStub(ch).GetAttestation(pb.AttestationRequest(nonce=nonce))
        )
    result = verify_attestation_document(
        doc,
        nonce=nonce,
        presented_tls_certificate=mtls.server_cert.read_bytes(),
        expected_measurements={SIMULATED_MEASUREMENT},
        simulated_ark=SimulatedAmdChain.load(simulated_chain_dir).ark_pem,
        now=datetime.now(UTC),
    )
    assert result.mode == "simulated"
    assert result.receipt_public_key == base64.b64decode(reply.receipt.signing_key)
    receipt = wire.receipt_from_pb(reply.receipt)
    from services.payment_tee.core.receipts import verify_receipt

    assert verify_receipt(receipt.to_wire(), result.receipt_public_key)
    books(db).assert_balanced()


def test_refusals_are_status_codes_with_a_detail_code(tee, mtls):
    with channel(tee.target, mtls) as ch:
        stub = pb_grpc.PaymentsStub(ch)
        alice, bob = holder(stub, 1_000), holder(stub)
        status = grpc.StatusCode
        cases = [
            (
                lambda: pay(stub, alice, bob, 5_000),
                status.FAILED_PRECONDITION,
                "insufficient_funds",
            ),
            (lambda: pay(stub, alice, uuid.uuid4(), 10), status.NOT_FOUND, "unknown_account"),
            (lambda: pay(stub, alice, bob, -1), status.INVALID_ARGUMENT, "invalid_amount"),
            (lambda: pay(stub, alice, alice, 10), status.INVALID_ARGUMENT, "self_transfer"),
            (
                lambda: pay(stub, alice, bob, 101, key="reused-key-1"),
                status.ALREADY_EXISTS,
                "idempotency_key_reused",
            ),
        ]
        pay(stub, alice, bob, 100, key="reused-key-1")
        for call, expected, code in cases:
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == expected
            trailers = dict(refused.value.trailing_metadata())
            assert trailers[wire.ERROR_CODE_KEY] == code
        with pytest.raises(grpc.RpcError) as refused:
            pay(stub, alice, bob, 5_000)
        details = json.loads(dict(refused.value.trailing_metadata())[wire.ERROR_DETAILS_KEY])
        assert details == {"available": 900, "amount": 5_000}


def _refused_at_handshake(tee, mtls, **creds):
    with channel(tee.target, mtls, **creds) as ch:
        stub = pb_grpc.PaymentsStub(ch)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetBalance(pb.GetBalanceRequest(owner_id=str(uuid.uuid4())), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_without_a_certificate_is_refused(tee, mtls):
    _refused_at_handshake(tee, mtls, cert=False, key=False)


def test_a_client_certificate_from_another_ca_is_refused(tee, mtls, tmp_path):
    other_ca = mtls_material.new_ca("someone else's CA")
    impostor = mtls_material.issue_client(other_ca)
    mtls_material.write_material(tmp_path / "other", {"client": impostor}, force=False)
    _refused_at_handshake(
        tee, mtls, cert=tmp_path / "other/client.pem", key=tmp_path / "other/client.key"
    )


def test_an_expired_client_certificate_is_refused(tee, mtls, tmp_path):
    ca = mtls_material.load_ca(mtls.dir / "ca.pem", mtls.dir / "ca.key")
    now = datetime.now(UTC)
    expired = mtls_material.issue_client(
        ca, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    mtls_material.write_material(tmp_path / "expired", {"client": expired}, force=False)
    _refused_at_handshake(
        tee, mtls, cert=tmp_path / "expired/client.pem", key=tmp_path / "expired/client.key"
    )


def test_attestation_over_https_binds_the_certificate_curl_sees(tee, mtls, simulated_chain_dir):
    nonce = os.urandom(16)
    context = ssl.create_default_context(cafile=str(mtls.ca))
    url = f"https://127.0.0.1:{tee.attestation_port}"
    doc = httpx.get(f"{url}/attestation", params={"nonce": nonce.hex()}, verify=context).json()
    result = verify_attestation_document(
        doc,
        nonce=nonce,
        presented_tls_certificate=mtls.server_cert.read_bytes(),
        expected_measurements={SIMULATED_MEASUREMENT},
        simulated_ark=SimulatedAmdChain.load(simulated_chain_dir).ark_pem,
        now=datetime.now(UTC),
    )
    assert result.measurement == SIMULATED_MEASUREMENT
    bad = httpx.get(f"{url}/attestation", params={"nonce": "zz"}, verify=context)
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    assert httpx.get(f"{url}/healthz", verify=context).json() == {
        "status": "ok",
        "mode": "simulated",
    }
    assert "sealpay_tee_attestations_total" in httpx.get(f"{url}/metrics", verify=context).text


def test_a_silent_connection_does_not_stall_attestation(tee, mtls):
    """Clients that connect and never start TLS hold no one else up."""
    context = ssl.create_default_context(cafile=str(mtls.ca))
    url = f"https://127.0.0.1:{tee.attestation_port}"
    silent = [socket.create_connection(("127.0.0.1", tee.attestation_port)) for _ in range(3)]
    try:
        for _ in range(3):
            r = httpx.get(f"{url}/healthz", verify=context, timeout=5)
            assert r.json() == {"status": "ok", "mode": "simulated"}
    finally:
        for sock in silent:
            sock.close()


def test_the_service_refuses_to_boot_with_a_foreign_module_loaded(
    tmp_path, database_url, mtls, simulated_chain_dir
):
    """A sitecustomize that loads fastapi before the service: the guard names it."""
    (tmp_path / "sitecustomize.py").write_text("import fastapi\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "DATABASE_URL": database_url,
        "TEE_TLS_CERT": str(mtls.server_cert),
        "TEE_TLS_KEY": str(mtls.server_key),
        "TEE_CLIENT_CA": str(mtls.ca),
        "TEE_ATTESTATION_PROVIDER": "simulated",
        "TEE_SIMULATED_DIR": str(simulated_chain_dir),
        "TEE_ENFORCE_BOUNDARY": "1",
    }
    r = subprocess.run(
        [sys.executable, "-m", "services.payment_tee"], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 3
    assert "outside the payment TEE boundary" in r.stderr and "fastapi" in r.stderr


def test_auto_provider_never_falls_back_to_simulation(tmp_path, database_url, mtls):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEE_TLS_CERT": str(mtls.server_cert),
        "TEE_TLS_KEY": str(mtls.server_key),
        "TEE_CLIENT_CA": str(mtls.ca),
        "TEE_ATTESTATION_PROVIDER": "auto",
        "PAYMENT_TEE_PORT": "0",
        "ATTESTATION_PORT": "0",
    }
    r = subprocess.run(
        [sys.executable, "-m", "services.payment_tee"], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode != 0
    assert "simulated" not in r.stdout


def test_cancel_charge_answers_with_the_receipt_or_refuses_the_key_for_good(tee, mtls, db):
    with channel(tee.target, mtls) as ch:
        stub = pb_grpc.PaymentsStub(ch)
        alice = holder(stub, 1_000)

        def charge(key):
            return stub.Charge(
                pb.ChargeRequest(
                    account=account(alice), amount=300, idempotency_key=key,
                    purpose="subscription", scope="billing", actor="test",
                )
            )  # fmt: skip

        def cancel(key):
            request = pb.CancelChargeRequest(
                account=account(alice), idempotency_key=key, scope="billing", actor="test"
            )
            return wire.cancellation_from_pb(stub.CancelCharge(request))

        posted = charge("renewal-posted-1")
        found = cancel("renewal-posted-1")
        assert not found.cancelled and found.receipt == wire.receipt_from_pb(posted.receipt)
        assert cancel("renewal-never-1").cancelled
        with pytest.raises(grpc.RpcError) as refused:
            charge("renewal-never-1")
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert dict(refused.value.trailing_metadata())[wire.ERROR_CODE_KEY] == "charge_cancelled"
        balance = stub.GetBalance(pb.GetBalanceRequest(owner_id=str(alice), asset="XMR"))
        assert balance.available == 700
    books(db).assert_balanced()


def test_a_transfer_whose_deadline_passed_while_queued_never_posts(tee, mtls, db):
    """The gateway's deadline passes (it answers 503, or its fallback refuses) while
    the transfer waits in the TEE's queue behind a batch stuck on a lock: gRPC
    cancels the handler, and the TEE must not post it once the queue moves."""
    with channel(tee.target, mtls) as ch:
        stub = pb_grpc.PaymentsStub(ch)
        alice, bob = holder(stub, 100_000), holder(stub)
        with db.connect() as hold:
            hold.execute(
                sa.text("SELECT 1 FROM ledger.holders WHERE owner_id = :a FOR UPDATE"),
                {"a": alice},
            )
            stuck = stub.Transfer.future(
                pb.TransferRequest(
                    kind=pb.TRANSFER_KIND_HUB_ROUTING, payer=account(alice),
                    payee=account(bob), amount=1_000, idempotency_key="in-flight-01",
                )
            )  # fmt: skip
            time.sleep(0.5)  # its batch now waits on the lock
            with pytest.raises(grpc.RpcError) as late:
                stub.Transfer(
                    pb.TransferRequest(
                        kind=pb.TRANSFER_KIND_HUB_ROUTING, payer=account(alice),
                        payee=account(bob), amount=2_000, idempotency_key="given-up-01",
                    ),
                    timeout=1,
                )  # fmt: skip
            assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            hold.commit()
        assert stuck.result(timeout=10).receipt.amount == 1_000
        pay(stub, alice, bob, 3_000)  # served after it: the queue moved on
    with db.connect() as conn:
        posted = conn.execute(
            sa.text("SELECT idempotency_key FROM ledger.entries WHERE payer_owner_id = :a"),
            {"a": alice},
        ).scalars()
        assert "given-up-01" not in set(posted)
    books(db).assert_balanced()
