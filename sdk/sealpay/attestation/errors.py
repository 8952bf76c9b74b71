"""The attestation failure hierarchy.

Every way an attestation can fail has its own exception class with a stable
``code``: callers (the SDK, the gateway's problem+json handler, the payment
core's gRPC status mapping) branch on the code and must never parse messages.
All classes derive from :class:`AttestationError`, so "refuse on any failure"
is a single ``except AttestationError``.

This module imports nothing outside the standard library: the payment core
runs under an import guard and reuses it.
"""

from __future__ import annotations

from typing import ClassVar


class AttestationError(Exception):
    """An attestation could not be verified; nothing it claims may be trusted."""

    code: ClassVar[str] = "attestation_failed"


class DocumentFormatError(AttestationError):
    """The attestation document is not the documented JSON shape."""

    code = "document_format"


class ReportLayoutError(AttestationError):
    """The report bytes are not a well-formed ATTESTATION_REPORT (size, reserved bytes, policy)."""

    code = "report_layout"


class UnsupportedVersionError(AttestationError):
    """The report's VERSION field is one this library does not know how to read."""

    code = "unsupported_version"


class SignatureAlgorithmError(AttestationError):
    """SIGNATURE_ALGO is not 1 (ECDSA P-384 with SHA-384), the only algorithm AMD uses."""

    code = "signature_algorithm"


class SigningKeyError(AttestationError):
    """SIGNER_INFO says the report was not signed by a VCEK (VLEK or unsigned reports)."""

    code = "signing_key"


class ReportSignatureError(AttestationError):
    """The ECDSA signature over bytes [0, 0x2A0) does not verify with the VCEK."""

    code = "report_signature"


class VcekChainError(AttestationError):
    """VCEK <- ASK <- ARK does not verify (signatures, names, key types, extensions)."""

    code = "vcek_chain"


class UntrustedRootError(AttestationError):
    """The chain's ARK is not one of the trusted roots (pinned by DER SHA-256)."""

    code = "untrusted_root"


class CertificateExpiredError(AttestationError):
    """A certificate of the chain is outside its validity period at the given ``now``."""

    code = "certificate_expired"


class TcbMismatchError(AttestationError):
    """REPORTED_TCB differs from the TCB the VCEK certificate was issued for."""

    code = "tcb_mismatch"


class ChipIdMismatchError(AttestationError):
    """CHIP_ID differs from the VCEK certificate's hwID: the VCEK belongs to another chip."""

    code = "chip_id_mismatch"


class DebugEnabledError(AttestationError):
    """The guest policy lets the host debug (decrypt) the guest."""

    code = "debug_enabled"


class MigrationAgentError(AttestationError):
    """The guest policy allows a migration agent, which can export guest memory."""

    code = "migration_agent"


class VmplError(AttestationError):
    """The report was requested from a VMPL less privileged than the policy allows."""

    code = "vmpl"


class MeasurementNotAllowedError(AttestationError):
    """The launch MEASUREMENT is not one of the allowed images (an empty allow-list allows none)."""

    code = "measurement_not_allowed"


class ReportDataMismatchError(AttestationError):
    """REPORT_DATA is not the binding of the presented TLS key, receipt key and nonce."""

    code = "report_data_mismatch"


class NonceMismatchError(AttestationError):
    """The document answers a different nonce than the one the caller sent (a replay)."""

    code = "nonce_mismatch"


class TlsCertificateMismatchError(AttestationError):
    """The document's TLS certificate has a different key than the one the connection presented."""

    code = "tls_certificate_mismatch"


class ModeMismatchError(AttestationError):
    """The document's ``mode`` disagrees with its root (simulated vs AMD)."""

    code = "mode_mismatch"
