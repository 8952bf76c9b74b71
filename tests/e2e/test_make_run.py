"""`make run` as a new user meets it: every service a real process, then the
issue's "done when" walk: two agents, a payment through the TEE, attestation
verified by the SDK against the simulated chain, and a payment refused when one
byte of the expected measurement is flipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sealpay import SealpayClient, TEEVerificationError
from support.servers import free_port
from support.tee import SIMULATED_MEASUREMENT

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


@pytest.fixture
def suite(db, database_url, tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        **os.environ,
        "SEALPAY_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "GATEWAY_PORT": str(port),
        "PAYMENT_TEE_PORT": str(free_port()),
        "ATTESTATION_PORT": str(free_port()),
    }
    env.pop("SEALPAY_ADMIN_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.devserver", "run"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"make run exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise AssertionError("the suite did not become ready")
    yield base, data_dir, proc
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def test_done_when(suite):
    base, data_dir, proc = suite
    admin = json.loads((data_dir / "dev-secrets.json").read_text())["admin_token"]
    ark = (data_dir / "tee-simulated" / "ark.pem").read_text()

    alice = SealpayClient(base).register_agent("alice")
    SealpayClient(base).register_agent("bob")
    with SealpayClient(base, admin_token=admin) as operator:
        operator.credit(alice.agent_id, 1_000_000)

    with SealpayClient(
        base,
        alice.api_key,
        verify_tee=True,
        expected_measurements=[SIMULATED_MEASUREMENT],
        simulated_ark=ark,
    ) as client:
        receipt = client.pay("bob", 10_000)
        assert (receipt.signer, receipt.fee, receipt.net) == ("tee", 30, 9_970)
        assert client.attestation().mode == "simulated"
        assert client.balance().available == 990_000

    flipped = bytearray(SIMULATED_MEASUREMENT)
    flipped[-1] ^= 0x80
    with SealpayClient(
        base,
        alice.api_key,
        verify_tee=True,
        expected_measurements=[bytes(flipped)],
        simulated_ark=ark,
    ) as client:
        with pytest.raises(TEEVerificationError) as refused:
            client.pay("bob", 10_000)
        assert refused.value.code == "measurement_not_allowed"
    with SealpayClient(base, alice.api_key) as plain:
        assert plain.balance().available == 990_000  # the refused payment never left

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    output = proc.stdout.read() if proc.stdout else ""
    assert "Sealpay is running" in output and "mode: simulated" in output
