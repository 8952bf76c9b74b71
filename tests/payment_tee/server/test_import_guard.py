"""The import guard, tested in fresh interpreters (module state is per process)."""

import subprocess
import sys
from pathlib import Path

from services.payment_tee import guard

REPO = Path(__file__).resolve().parents[3]


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_the_whole_server_loads_inside_the_boundary():
    r = run(
        "import services.payment_tee.server.app\n"
        "from services.payment_tee import guard\n"
        "guard.enforce()\n"
        "print('inside')"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "inside"


def test_refuses_to_start_with_a_foreign_module_loaded_and_names_it():
    r = run("import fastapi\nfrom services.payment_tee import guard\nguard.enforce()")
    assert r.returncode != 0
    assert "BoundaryViolation" in r.stderr
    assert "fastapi" in r.stderr


def test_gateway_code_is_foreign_too():
    r = run("import services.gateway.auth\nfrom services.payment_tee import guard\nguard.enforce()")
    assert r.returncode != 0 and "services.gateway" in r.stderr


def test_later_imports_outside_the_list_fail():
    r = run(
        "from services.payment_tee import guard\n"
        "guard.enforce()\n"
        "import json, decimal\n"  # stdlib stays importable
        "try:\n"
        "    import httpx\n"
        "except ImportError as exc:\n"
        "    print('refused:', exc)\n"
    )
    assert r.returncode == 0, r.stderr
    assert "refused: 'httpx' is outside the payment TEE import boundary" in r.stdout


def test_the_allowlist_itself():
    assert guard.is_allowed("json")
    assert guard.is_allowed("services.payment_tee.core.api")
    assert guard.is_allowed("services.protos.sealpay.payments.v1.payments_pb2")
    assert guard.is_allowed("sealpay.attestation.abi")
    assert guard.is_allowed("grpc._cython.cygrpc")
    assert guard.is_allowed("sqlalchemy.engine")
    assert not guard.is_allowed("sealpay.client")
    assert not guard.is_allowed("services.common.settings")  # pydantic behind it
    assert not guard.is_allowed("services.billing")
    assert not guard.is_allowed("pydantic")
    assert not guard.is_allowed("httpx")
