"""Client-side verification of Sealpay's SEV-SNP attestation documents.

Split after google/go-sev-guest: ``abi`` (report bytes <-> fields), ``kds``
(VCEK certificate extensions), ``trust`` (pinned AMD roots), ``verify``
(signatures and chains), ``validate`` (policy on fields), ``binding``
(REPORT_DATA), ``document`` (the JSON document and the one-call check) and
``simulate`` (a fake AMD hierarchy for tests and the simulated provider).
Every module imports only the standard library and ``cryptography``, so the
payment core can reuse them under its import guard.

Most callers need one function::

    result = verify_attestation_document(
        document,
        nonce=nonce,
        presented_tls_certificate=peer_certificate_der,
        expected_measurements={MEASUREMENT},
        now=datetime.now(UTC),
    )
"""

from sealpay.attestation.abi import GuestPolicy, Report, SignerInfo, TcbVersion, signed_bytes
from sealpay.attestation.binding import expected_report_data
from sealpay.attestation.document import (
    AttestationDocument,
    AttestationResult,
    build_attestation_document,
    verify_attestation_document,
)
from sealpay.attestation.errors import AttestationError
from sealpay.attestation.trust import AMD_TRUST_STORE, TrustedRoot, TrustStore, trusted_roots
from sealpay.attestation.validate import ValidationPolicy, validate_report
from sealpay.attestation.verify import CertificateChain, VerifiedReport, verify_report

__all__ = [
    "AMD_TRUST_STORE",
    "AttestationDocument",
    "AttestationError",
    "AttestationResult",
    "CertificateChain",
    "GuestPolicy",
    "Report",
    "SignerInfo",
    "TcbVersion",
    "TrustStore",
    "TrustedRoot",
    "ValidationPolicy",
    "VerifiedReport",
    "build_attestation_document",
    "expected_report_data",
    "signed_bytes",
    "trusted_roots",
    "validate_report",
    "verify_attestation_document",
    "verify_report",
]
