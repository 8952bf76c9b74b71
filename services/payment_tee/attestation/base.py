"""What every report provider returns, and the checks they all share.

A provider turns 64 bytes of REPORT_DATA into a raw SEV-SNP report plus the
VCEK -> ASK -> ARK certificates that verify it. The providers differ only in
how they reach the AMD secure processor (configfs-tsm, the /dev/sev-guest
ioctl, or a simulated chain); whatever the route, the report is parsed and
its REPORT_DATA compared with what was asked before it leaves the provider,
so a racing writer or a confused kernel shows up here as an error rather than
at the client as an unverifiable document.

Imports: stdlib, ``sealpay.attestation`` and this package only (import guard).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from sealpay.attestation.abi import REPORT_DATA_SIZE, Report
from sealpay.attestation.certs import CertPemBundle
from sealpay.attestation.document import Mode
from sealpay.attestation.errors import AttestationError

from services.payment_tee.attestation.certtable import CertTable, bundle_from_table
from services.payment_tee.attestation.errors import (
    CertificatesUnavailableError,
    ReportMismatchError,
)

PAYMENT_CORE_VMPL: Final = 0
"""The payment core asks for reports at VMPL 0; the verifier accepts nothing less privileged."""


@dataclass(frozen=True)
class RawAttestation:
    """A report exactly as the platform produced it, with the chain that verifies it."""

    mode: Mode
    report: bytes
    certs: CertPemBundle


class ReportProvider(Protocol):
    """Something that can ask an AMD secure processor (real or simulated) for a report."""

    @property
    def mode(self) -> Mode: ...

    def get_report(self, report_data: bytes) -> RawAttestation:
        """A fresh report whose REPORT_DATA is ``report_data`` (exactly 64 bytes). Blocking."""
        ...


class CertSource(Protocol):
    """Where certificates come from when the host does not hand them over (AMD's KDS)."""

    def certificates(self, report: Report) -> CertPemBundle:
        """VCEK for the report's chip and REPORTED_TCB, with its ASK and ARK, as PEM."""
        ...


def require_report_data(report_data: bytes) -> None:
    """REPORT_DATA is a fixed 64-byte field: padding or truncating would change the binding."""
    if len(report_data) != REPORT_DATA_SIZE:
        raise ValueError(f"report_data must be {REPORT_DATA_SIZE} bytes, got {len(report_data)}")


def checked_report(raw: bytes, report_data: bytes) -> Report:
    """Parse the platform's report and insist it answers *our* REPORT_DATA.

    A mismatch means the blob belongs to another request (a configfs race the
    generation counter missed, a kernel bug): never serve it.
    """
    try:
        report = Report.from_bytes(raw)
    except AttestationError as exc:
        raise ReportMismatchError(f"platform returned an unparsable report: {exc}") from exc
    if report.report_data != report_data:
        raise ReportMismatchError("platform report carries a different REPORT_DATA than requested")
    return report


def platform_certificates(
    report: Report, table: CertTable, cert_source: CertSource | None
) -> CertPemBundle:
    """The host's certificates when it gave all three, else the certificate source's.

    GCE hands over no certificate table, so there the VCEK comes from AMD's KDS.
    A partial table is not merged with fetched certificates: one source
    supplies the whole chain, which keeps it internally consistent.
    """
    bundle = bundle_from_table(table)
    if bundle is not None:
        return bundle
    if cert_source is None:
        raise CertificatesUnavailableError(
            "the host supplied no VCEK/ASK/ARK and no certificate source is configured"
        )
    return cert_source.certificates(report)
