"""Field policy: fail closed by default."""

from __future__ import annotations

import pytest
from sealpay.attestation.abi import GuestPolicy, Report
from sealpay.attestation.errors import (
    DebugEnabledError,
    MeasurementNotAllowedError,
    MigrationAgentError,
    ReportDataMismatchError,
    VmplError,
)
from sealpay.attestation.validate import ValidationPolicy, validate_report

MEASUREMENT = b"\x42" * 48
REPORT_DATA = b"\x24" * 64
GOOD = Report(measurement=MEASUREMENT, report_data=REPORT_DATA)


def _policy(**changes: object) -> ValidationPolicy:
    arguments: dict[str, object] = {
        "allowed_measurements": frozenset({MEASUREMENT}),
        "expected_report_data": REPORT_DATA,
    }
    arguments.update(changes)
    return ValidationPolicy(**arguments)  # type: ignore[arg-type]


def test_good_report_passes() -> None:
    validate_report(GOOD, _policy())


def test_empty_allow_list_refuses_everything() -> None:
    with pytest.raises(MeasurementNotAllowedError):
        validate_report(GOOD, _policy(allowed_measurements=frozenset()))


@pytest.mark.parametrize(
    ("report", "error"),
    [
        (
            Report(policy=GuestPolicy(debug=True).to_int(), measurement=MEASUREMENT),
            DebugEnabledError,
        ),
        (
            Report(policy=GuestPolicy(migrate_ma=True).to_int(), measurement=MEASUREMENT),
            MigrationAgentError,
        ),
        (Report(vmpl=1, measurement=MEASUREMENT, report_data=REPORT_DATA), VmplError),
        (Report(report_data=REPORT_DATA), MeasurementNotAllowedError),
        (Report(measurement=MEASUREMENT), ReportDataMismatchError),
    ],
    ids=["debug", "migrate_ma", "vmpl", "measurement", "report_data"],
)
def test_default_policy_refuses(report: Report, error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_report(report, _policy())


def test_report_data_check_can_be_delegated_explicitly() -> None:
    validate_report(Report(measurement=MEASUREMENT), _policy(expected_report_data=None))


def test_expected_report_data_must_be_stated() -> None:
    with pytest.raises(TypeError):
        ValidationPolicy(allowed_measurements=frozenset({MEASUREMENT}))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "changes",
    [
        {"allowed_measurements": {MEASUREMENT}},
        {"allowed_measurements": frozenset({b"short"})},
        {"max_vmpl": 4},
        {"max_vmpl": -1},
        {"expected_report_data": b"\x00" * 32},
    ],
)
def test_malformed_policy_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        _policy(**changes)
