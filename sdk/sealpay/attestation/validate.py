"""Policy on the fields of a verified report (go-sev-guest's ``validate``).

``verify`` proves who signed a report; this module decides whether what it
says is acceptable for a payment core: the launch measurement is one we
built, the host cannot debug the guest, no migration agent can export its
memory, the report came from the most privileged VMPL, and REPORT_DATA is the
binding the caller expects. Everything fails closed: the default policy
allows nothing to be debugged or migrated, and an empty allow-list of
measurements accepts no image at all.

Imports only the standard library.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sealpay.attestation.abi import (
    MEASUREMENT_SIZE,
    REPORT_DATA_SIZE,
    Report,
    policy_allows_debug,
    policy_allows_migrate_ma,
)
from sealpay.attestation.errors import (
    DebugEnabledError,
    MeasurementNotAllowedError,
    MigrationAgentError,
    ReportDataMismatchError,
    VmplError,
)

MAX_VMPL = 3


@dataclass(frozen=True, kw_only=True)
class ValidationPolicy:
    """What a report must say to be accepted.

    ``expected_report_data`` has no default on purpose: a caller must either
    pass the binding it computed or write ``None`` to say it checks the
    binding itself.
    """

    allowed_measurements: frozenset[bytes]
    max_vmpl: int = 0
    allow_debug: bool = False
    allow_migrate_ma: bool = False
    expected_report_data: bytes | None

    def __post_init__(self) -> None:
        if not isinstance(self.allowed_measurements, frozenset):
            raise TypeError("allowed_measurements must be a frozenset of 48-byte measurements")
        for measurement in self.allowed_measurements:
            if len(measurement) != MEASUREMENT_SIZE:
                raise ValueError(
                    f"a measurement is {MEASUREMENT_SIZE} bytes, got {len(measurement)}"
                )
        if not 0 <= self.max_vmpl <= MAX_VMPL:
            raise ValueError(f"max_vmpl must be between 0 and {MAX_VMPL}")
        if (
            self.expected_report_data is not None
            and len(self.expected_report_data) != REPORT_DATA_SIZE
        ):
            raise ValueError(f"expected_report_data must be {REPORT_DATA_SIZE} bytes")


def validate_report(report: Report, policy: ValidationPolicy) -> None:
    """Raise the specific ``AttestationError`` for the first field the policy refuses."""
    if policy_allows_debug(report.policy) and not policy.allow_debug:
        raise DebugEnabledError("guest policy allows the host to debug the guest")
    if policy_allows_migrate_ma(report.policy) and not policy.allow_migrate_ma:
        raise MigrationAgentError("guest policy allows a migration agent")
    if report.vmpl > policy.max_vmpl:
        raise VmplError(
            f"report requested from VMPL {report.vmpl}, at most {policy.max_vmpl} allowed"
        )
    if report.measurement not in policy.allowed_measurements:
        raise MeasurementNotAllowedError(
            f"measurement {report.measurement.hex()} is not in the allowed set"
        )
    expected = policy.expected_report_data
    if expected is not None and not hmac.compare_digest(report.report_data, expected):
        raise ReportDataMismatchError("REPORT_DATA does not bind the expected keys and nonce")
