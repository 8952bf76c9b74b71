"""The committed generated code matches protos/ (regenerate with `make proto`)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_python_matches_the_protos():
    r = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, f"generated code drifted, run `make proto`:\n{r.stderr}"


def test_the_service_surface():
    from services.protos.sealpay.payments.v1 import payments_pb2 as pb

    payments = pb.DESCRIPTOR.services_by_name["Payments"]
    assert {m.name for m in payments.methods} >= {
        "Transfer", "GetBalance", "GetReceipt", "Credit", "Charge", "Refund", "SetTier",
    }  # fmt: skip
    attestation = pb.DESCRIPTOR.services_by_name["Attestation"]
    assert [m.name for m in attestation.methods] == ["GetAttestation"]
