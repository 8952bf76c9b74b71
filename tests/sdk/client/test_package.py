"""The package's shape: lazy exports keep ``sealpay.attestation`` free of httpx; error mapping."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sealpay
from sealpay.errors import (
    ApiError,
    InvalidRequest,
    NotFound,
    PaymentCoreUnavailable,
    ServerError,
    TierLimitReached,
    api_error,
)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "statement",
    [
        "import sealpay",
        "import sealpay.attestation",
        "from sealpay.attestation import verify_attestation_document",
        "from sealpay import ApiError, TEEVerificationError, Receipt, verify_receipt",
    ],
)
def test_importing_without_the_client_does_not_import_httpx(statement):
    result = _python(f"import sys\n{statement}\nassert 'httpx' not in sys.modules, statement")
    assert result.returncode == 0, result.stderr


def test_the_client_is_importable_from_the_top_level():
    result = _python(
        "import sys\nfrom sealpay import SealpayClient\n"
        "assert SealpayClient.__module__ == 'sealpay.client'\nassert 'httpx' in sys.modules"
    )
    assert result.returncode == 0, result.stderr


def test_every_exported_name_resolves():
    for name in sealpay.__all__:
        assert getattr(sealpay, name) is not None
        assert name in dir(sealpay)
    with pytest.raises(AttributeError):
        sealpay.NoSuchThing  # noqa: B018


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (503, "payment_core_unavailable", PaymentCoreUnavailable),
        (500, "internal_error", ServerError),
        (404, "some_future_not_found", NotFound),
        (422, "asset_mismatch", InvalidRequest),
        (429, "tier_limit_reached", TierLimitReached),
        (418, "teapot", ApiError),
    ],
)
def test_problems_map_to_the_most_specific_error(status, code, expected):
    error = api_error(status, {"code": code, "detail": "why", "status": status})
    assert type(error) is expected
    assert (error.status, error.code, error.detail) == (status, code, "why")
    assert str(error) == f"{status} {code}: why"
